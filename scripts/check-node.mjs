// Fails early, in one line, on a Node.js older than package.json's "engines" (plain JavaScript, so
// that it runs on the old Node it refuses). Used before start, simulator, schema, bench and test.
import { readFileSync } from 'node:fs';

var wanted = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).engines.node; // ">=22.13"
var need = wanted.replace(/^>=\s*/, '').split('.').map(Number);
var have = process.versions.node.split('.').map(Number);
var older = have[0] !== need[0] ? have[0] < need[0] : (have[1] || 0) < (need[1] || 0);
if (older) {
  process.stderr.write(
    'This gateway needs Node.js ' + need.join('.') + ' or newer (it runs TypeScript by type stripping); this is Node.js ' +
      process.versions.node + ' at ' + process.execPath + '. Install Node 22 LTS or newer (https://nodejs.org, or `nvm install 22`), then run again.\n',
  );
  process.exit(1);
}
