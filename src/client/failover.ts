/**
 * Several servers for one session: a SessionTransport that opens each
 * connection on one of them and moves on to the next after a failure. Any
 * node of a deployment can carry any session (rooms live in the shared room
 * log), so when a node dies or is unreachable the session simply resumes on
 * another, with the same resume positions and outbox. The connection loop
 * asks `server` (for its messages) and `serverCount` (to try every server
 * once before it backs off or gives up). No Node built-ins: a browser can
 * use it with several base URLs too.
 */
import type { SessionConnection, SessionTransport } from "./session-transport.js";

export interface ServerEndpoint {
  /** The address, as the user gave it: for messages. */
  server: string;
  transport: SessionTransport;
}

export interface FailoverTransport extends SessionTransport {
  /** Where the next connection goes. */
  readonly server: string;
  readonly serverCount: number;
}

export function failoverTransport(endpoints: ServerEndpoint[]): FailoverTransport {
  if (endpoints.length === 0) throw new Error("failoverTransport needs at least one server");
  let index = 0;
  return {
    // Every endpoint carries the same kind of session (all Chat streams, or all OpenSession).
    halfClose: endpoints.every((e) => e.transport.halfClose),
    get server() {
      return endpoints[index].server;
    },
    serverCount: endpoints.length,
    abandon() {
      endpoints[index].transport.abandon?.();
    },
    open(signal: AbortSignal): SessionConnection {
      const used = index;
      const link = endpoints[used].transport.open(signal);
      let finished = false;
      return {
        events: (async function* () {
          try {
            yield* link.events;
          } finally {
            // Any end we did not ask for (refused, dropped, silent, the server going away)
            // sends the next connection to the next server.
            if (!finished && index === used) index = (used + 1) % endpoints.length;
          }
        })(),
        send: (request) => link.send(request),
        finish: () => {
          finished = true;
          link.finish();
        },
      };
    },
  };
}
