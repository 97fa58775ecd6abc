#!/usr/bin/env -S node --max-semi-space-size=4 --max-old-space-size=64 --liftoff-only
import '../dist/cli.js';
