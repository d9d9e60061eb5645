/**
 * Turning transport failures into one line a person can act on, and deciding
 * which of them are worth a reconnect. Kept apart from the session so the
 * wording and the retry policy can be read (and tested) in one place. Words,
 * not transport internals: "the connection was closed", never "http/2 stream
 * closed with error code CANCEL (0x8)".
 */
import { Code, ConnectError } from "@connectrpc/connect";

const SOCKET_ERRORS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "connection timed out",
  ECONNRESET: "connection reset",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  EPIPE: "connection closed",
};

/** The socket error code behind a ConnectError, if the failure was at the socket level. */
function socketCode(err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code in SOCKET_ERRORS) return code;
  }
  return undefined;
}

const codeName = (code: Code): string => (Code[code] ?? String(code)).replace(/[A-Z]/g, (c, i) => (i ? "_" : "") + c.toLowerCase());

const TOO_SLOW = "the server dropped us for reading too slowly (we could not keep up with the room)";

/** HTTP/2 resets carry no message; say what each means for a chat client. */
const RESET_REASONS: [RegExp, string][] = [
  [/ENHANCE_YOUR_CALM/, TOO_SLOW],
  [/REFUSED_STREAM/, "the server refused the stream"],
  [/CANCEL|NO_ERROR|STREAM_CLOSED/, "the connection was closed"],
];

/** What a browser's fetch says when it reaches no server (Chromium, Firefox, Safari): connect-web passes it on as is. */
const FETCH_FAILED = /^(Failed to fetch|NetworkError when attempting to fetch resource|Load failed)/;

/** Messages of Node's HTTP/2 and socket layers that mean "the connection went away". */
/** "missing status": a proxy in front of the server (HAProxy) cut the stream when its backend went away. */
const CONNECTION_CLOSED = /^http\/2 |premature close|socket hang up|other side closed|GOAWAY|ERR_HTTP2|session closed|stream closed|aborted|protocol error: missing status/i;

/** One line describing why talking to `server` failed, in words a person can act on. */
export function describeError(err: unknown, server: string): string {
  const socket = socketCode(err);
  if (socket) return `cannot reach server ${server}: ${SOCKET_ERRORS[socket]}`;
  const e = ConnectError.from(err);
  const detail = firstLine(e.rawMessage) || "no details";
  if (FETCH_FAILED.test(detail)) return `cannot reach server ${server}`;
  if (/^http\/2 stream closed with error code/.test(detail)) {
    return RESET_REASONS.find(([pattern]) => pattern.test(detail))?.[1] ?? "the connection broke";
  }
  if (e.code === Code.ResourceExhausted && /too slow/.test(detail)) return TOO_SLOW;
  if (/shutting down/.test(detail)) return `server ${server} is shutting down`;
  if (CONNECTION_CLOSED.test(detail)) return `the connection to ${server} was closed`;
  if (e.code === Code.Unavailable) return `server ${server} unavailable: ${detail}`;
  return `${codeName(e.code)}: ${detail}`;
}

export function firstLine(text: string): string {
  return text.split("\n")[0].trim();
}

/**
 * Whether a Chat stream that ended with this code should be reconnected.
 * Transient conditions (server restarting, connection lost, too slow, server
 * full, a server bug on this stream) are; a refusal of what we asked for
 * (bad argument, not implemented, not permitted) would fail the same way again.
 */
export function isRetryable(code: Code): boolean {
  switch (code) {
    case Code.Unavailable:
    case Code.Internal:
    case Code.Canceled: // only reached when we did not cancel it ourselves
    case Code.ResourceExhausted:
    case Code.DeadlineExceeded:
    case Code.Aborted:
    case Code.Unknown:
      return true;
    default:
      return false;
  }
}
