// Copies Leaflet's built files from node_modules into vendor/ so the app runs with no npm and no CDN.
// Run after `npm install`: `npm run vendor`. The copy under vendor/ is committed.
import { cpSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..');
const src = join(web, 'node_modules', 'leaflet');
const dst = join(web, 'vendor', 'leaflet');

rmSync(dst, { recursive: true, force: true });
mkdirSync(join(dst, 'images'), { recursive: true });
for (const f of ['leaflet.js', 'leaflet.css']) cpSync(join(src, 'dist', f), join(dst, f));
for (const f of readdirSync(join(src, 'dist', 'images'))) {
  cpSync(join(src, 'dist', 'images', f), join(dst, 'images', f));
}
cpSync(join(src, 'LICENSE'), join(dst, 'LICENSE'));
console.log(`vendored leaflet into ${dst}`);
