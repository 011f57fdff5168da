// Node 20's `node --test DIR` only runs files named like *.test.mjs; this makes
// `node --test web/tests/` run the browser tests kept in e2e.mjs.
import './e2e.mjs';
