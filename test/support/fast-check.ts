// Property tests run fast-check's default 100 cases in `npm test`; `npm run fuzz` runs many more
// (CARS_FUZZ_RUNS), for minutes, before a release.
import fc from 'fast-check';

const runs = Number(process.env.CARS_FUZZ_RUNS || 0);
if (runs > 0) fc.configureGlobal({ numRuns: runs });
