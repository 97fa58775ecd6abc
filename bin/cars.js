#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=64
import '../dist/cli.js';
