/**
 * The web client's built files (dist/web, made by `npm run build`), read
 * into memory once at start and served by exact name: no path from a request
 * ever reaches the file system. The page is served with a strict Content
 * Security Policy (scripts and styles only from this origin, no inline code),
 * a second line of defence behind rendering message text as text.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Http2ServerRequest, Http2ServerResponse } from "node:http2";
import { dirname, extname, join } from "node:path";
import { fileURLToPath } from "node:url";

type Request = IncomingMessage | Http2ServerRequest;
type Response = ServerResponse | Http2ServerResponse;

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".png": "image/png",
  ".svg": "image/svg+xml",
  ".ico": "image/x-icon",
  ".webmanifest": "application/manifest+json",
};

/** The bundle is small; refuse to hold anything unexpectedly large in memory. */
const MAX_TOTAL_BYTES = 8 * 1024 * 1024;

const SECURITY_HEADERS = {
  "content-security-policy":
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
};

interface Asset {
  body: Buffer;
  type: string;
}

export interface WebAssets {
  /** Serve a GET or HEAD for a known file; false when the request is not for one. */
  serve(req: Request, res: Response): boolean;
}

/** The package root: the nearest directory above this module with our package.json (src/ and dist/src/ both work). */
function packageRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let depth = 0; depth < 6; depth++) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      try {
        if ((JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "grpc-chat") return dir;
      } catch {
        // not ours; keep looking
      }
    }
    dir = dirname(dir);
  }
  return undefined;
}

export function defaultWebDir(): string | undefined {
  const root = packageRoot();
  return root ? join(root, "dist", "web") : undefined;
}

/** Undefined when the page was not built (the gateway then says so at `/`). */
export function loadWebAssets(dir = defaultWebDir()): WebAssets | undefined {
  if (!dir || !existsSync(join(dir, "index.html"))) return undefined;
  const assets = new Map<string, Asset>();
  let total = 0;
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)];
    const file = join(dir, name);
    if (!type || !statSync(file).isFile()) continue;
    const body = readFileSync(file);
    total += body.length;
    if (total > MAX_TOTAL_BYTES) throw new Error(`web client in ${dir} is larger than ${MAX_TOTAL_BYTES} bytes`);
    assets.set(`/${name}`, { body, type });
  }
  assets.set("/", assets.get("/index.html")!);
  // The page names its icon (<link rel="icon">), but browsers and tools still ask for /favicon.ico:
  // answer with the same SVG (every current browser takes one there) instead of a 404 on every load.
  const icon = assets.get("/favicon.svg");
  if (icon && !assets.has("/favicon.ico")) assets.set("/favicon.ico", icon);
  return {
    serve(req, res) {
      if (req.method !== "GET" && req.method !== "HEAD") return false;
      const asset = assets.get((req.url ?? "").split("?", 1)[0]);
      if (!asset) return false;
      res.writeHead(200, {
        "content-type": asset.type,
        "content-length": String(asset.body.length),
        // The file names do not change between builds: revalidate rather than serve a stale page after an upgrade.
        "cache-control": "no-cache",
        ...SECURITY_HEADERS,
      });
      if (req.method === "HEAD") res.end();
      else res.end(asset.body);
      return true;
    },
  };
}
