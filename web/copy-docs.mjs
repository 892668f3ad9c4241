// The API documentation page's assets (Swagger UI), from the npm registry's swagger-ui-dist,
// copied into the build so /docs needs no CDN: the service serves them under /app/api-docs/.
import { copyFileSync, mkdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const from = dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const to = join("dist", "api-docs");
mkdirSync(to, { recursive: true });
for (const file of ["swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png", "oauth2-redirect.html"]) {
  copyFileSync(join(from, file), join(to, file));
}
console.log(`copied Swagger UI into ${to}`);
