// Builds the web client into dist/web (served by the server's HTTP port at /):
// web/src/main.ts bundled with esbuild (the generated code, connect-web and
// the session layer in one minified ES module), and the static files beside it.
//
// Every file is written to a temporary name and renamed into place: several
// browser test files build at once (vitest runs files in parallel), and a
// server starting meanwhile must read whole files, never a missing directory
// or half a bundle.
import { copyFileSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const out = join(root, "dist", "web");
mkdirSync(out, { recursive: true });
const temporary = (name) => join(out, `.${name}.${process.pid}.tmp`);
const result = await build({
  entryPoints: [join(root, "web", "src", "main.ts")],
  outfile: join(out, "app.js"),
  bundle: true,
  format: "esm",
  platform: "browser",
  target: ["es2022"],
  minify: true,
  legalComments: "linked",
  logLevel: "warning",
  write: false,
});
for (const file of result.outputFiles) {
  const name = basename(file.path);
  writeFileSync(temporary(name), file.contents);
  renameSync(temporary(name), join(out, name));
}
for (const file of ["index.html", "style.css", "favicon.svg"]) {
  copyFileSync(join(root, "web", file), temporary(file));
  renameSync(temporary(file), join(out, file));
}
