/**
 * OpenSession on grpc-js: a session from the registry whose frames are the
 * call's writes (the same bytes as Chat's: OpenSessionResponse and
 * ChatResponse share their encoding), with the call's drain as the queue's
 * back-pressure, and the session's end as the call's status.
 */
import * as grpc from "@grpc/grpc-js";
import type { ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import type { Authenticator } from "./auth.js";
import { authenticateCall } from "./call-auth.js";
import { disconnectError } from "./disconnect-status.js";
import { endCall } from "./grpc-call-control.js";
import type { SessionRegistry } from "./session-registry.js";

export interface OpenSessionStreamOptions {
  registry: SessionRegistry;
  log: Logger;
  /** How long an ended stream's pending writes may take to flush before it is reset. */
  resetGraceMs: number;
  authenticate?: Authenticator;
}

type OpenSessionCall = grpc.ServerWritableStream<unknown, Uint8Array>;
// endCall walks the same call chain for every kind of server call.
type AnyCall = grpc.ServerDuplexStream<unknown, unknown>;

export function openSessionHandler({ registry, log, resetGraceMs, authenticate }: OpenSessionStreamOptions) {
  return (call: OpenSessionCall): void => {
    const peer = call.getPeer();
    let ended = false;
    const end = (error: ConnectError | undefined) => {
      if (ended) return;
      ended = true;
      if (!error) call.end();
      else endCall(call as unknown as AnyCall, { code: error.code as number as grpc.status, details: error.rawMessage }, resetGraceMs);
    };
    authenticateCall(authenticate, call.metadata.get("authorization")[0] as string | undefined).then(
      (identity) => {
        if (call.cancelled) return;
        const opened = registry.open({ write: (frame) => call.write(frame), end }, identity, peer);
        if (!("id" in opened)) return end(disconnectError(opened));
        call.on("drain", () => opened.drained());
        const gone = () => {
          ended = true;
          opened.close();
        };
        call.on("cancelled", gone);
        call.on("close", gone);
        call.on("error", gone);
      },
      (err: ConnectError) => {
        log.info({ peer, reason: err.rawMessage }, "session refused: unauthenticated");
        end(err);
      },
    );
  };
}
