/**
 * Sessions opened with OpenSession, by id, so that the Command calls that
 * follow (separate requests, on any connection) find theirs. A browser cannot
 * stream requests, so its session is split in two: one server stream for the
 * events, one unary call per command. Both go through the same hub Session
 * as a Chat stream, so validation, rate limits, ordering and acknowledgements
 * are the hub's, not re-implemented here.
 *
 * Bounded: every entry is an open hub session, and the hub refuses sessions
 * past its maxSessions; commands waiting for their answer are bounded per
 * session and in time. Transport-free: grpc-js and connect-node adapt it.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import type { Logger } from "pino";
import { ChatRequestSchema, SessionEventSchema, type ChatRequest, type CommandRequest } from "../../gen/chat/v1/chat_pb.js";
import { Disconnect, type DisconnectReason } from "../hub/disconnect.js";
import type { Hub } from "../hub/hub.js";
import { Session } from "../hub/session.js";
import { encodeEvent, type EncodedEvent } from "../wire/encoded-event.js";
import type { Identity } from "./auth.js";
import { disconnectError } from "./disconnect-status.js";
import { newSessionId, nodeOfSession } from "./session-id.js";

/** Where an OpenSession stream's frames go: a grpc-js call or a Connect handler. */
export interface SessionSink {
  /** Write one frame (the encoding of ChatResponse and of OpenSessionResponse). False: stop until drained(). */
  write(frame: Uint8Array): boolean;
  /** End the stream: undefined for a clean end, else with the error's status. */
  end(error: ConnectError | undefined): void;
}

/** An open session as its stream's handler holds it. */
export interface OpenedSession {
  readonly id: string;
  readonly session: Session;
  /** The sink takes frames again. */
  drained(): void;
  /** The stream is gone (the client cancelled, the connection dropped): leave the rooms. */
  close(): void;
}

export interface SessionRegistryOptions {
  hub: Hub;
  nodeId: string;
  log: Logger;
  /** How long a Command may wait for its answer (default 15 s). */
  commandTimeoutMs?: number;
  /**
   * A session with no Command for this long is taken for a vanished client
   * and ended. Browsers cannot see HTTP/2 pings, and a page that was closed
   * without a word (a laptop lid, a lost network) leaves its stream open on
   * the server for as long as TCP takes to notice, holding its nicknames; a
   * client pings (a Command) more often than this to stay.
   */
  leaseMs: number;
}

/** Commands of one session waiting for their answer at once; more are refused. */
const MAX_PENDING_COMMANDS = 256;
/** setTimeout cannot wait longer than this; a token valid for longer is not timed. */
const MAX_TIMER_MS = 2 ** 31 - 1;
const EMPTY_RESPONSE = new Uint8Array(0);

interface Entry {
  readonly id: string;
  readonly session: Session;
  readonly identity: string | undefined;
  readonly sink: SessionSink;
  /** Pending commands, told when the session ends before answering them. */
  readonly waiters: Set<(reason: string) => void>;
  lease: NodeJS.Timeout;
  expiry: NodeJS.Timeout | undefined;
  ended: boolean;
}

export class SessionRegistry {
  readonly nodeId: string;
  private readonly entries = new Map<string, Entry>();
  private readonly commandTimeoutMs: number;

  constructor(private readonly options: SessionRegistryOptions) {
    this.nodeId = options.nodeId;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 15_000;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * Open a hub session whose frames go to `sink`, starting with the
   * SessionEvent that names it; or say why not (server full, shutting down).
   */
  open(sink: SessionSink, identity: Identity | undefined, peer: string): OpenedSession | DisconnectReason {
    const { hub, log, nodeId } = this.options;
    const id = newSessionId(nodeId);
    let entry: Entry | undefined;
    const opened = hub.openSession(
      {
        write: (frame) => sink.write(frame),
        end: (reason) => {
          log.info({ peer, session: entry?.session.id, reason: reason.kind, detail: reason.message }, "session closed");
          if (entry) this.forget(entry, reason.message);
          sink.end(disconnectError(reason));
        },
      },
      identity,
    );
    if (!(opened instanceof Session)) {
      log.warn({ peer, reason: opened.kind }, "session refused");
      return opened;
    }
    const session = opened;
    const lease = setTimeout(() => this.expire(entry!, peer), this.options.leaseMs);
    lease.unref();
    entry = { id, session, identity: identity?.subject, sink, waiters: new Set(), lease, expiry: undefined, ended: false };
    this.entries.set(id, entry);
    if (identity?.expiresAtMs !== undefined) {
      const delay = identity.expiresAtMs - Date.now();
      if (delay < MAX_TIMER_MS) {
        entry.expiry = setTimeout(() => session.abort(Disconnect.unauthenticated("token expired")), Math.max(0, delay));
        entry.expiry.unref();
      }
    }
    log.info({ peer, session: session.id, node: nodeId, identity: identity?.subject }, "session opened");
    // Through the queue, so it is the first frame and obeys the same back-pressure as the rest.
    session.queue.push(encodeEvent({ case: "session", value: create(SessionEventSchema, { sessionId: id }) }));
    const done = entry;
    return {
      id,
      session,
      drained: () => session.queue.drained(),
      close: () => {
        if (done.ended) return;
        log.info({ peer, session: session.id, rooms: session.describeRooms(), reason: "client-gone" }, "session closed");
        this.forget(done, "the client went away");
        session.transportClosed();
      },
    };
  }

  /**
   * Carry out one command of a session and resolve with the event that
   * answered it (undefined for typing). Fails with NOT_FOUND for an unknown
   * session, PERMISSION_DENIED for someone else's, UNAVAILABLE when the
   * session ends first, DEADLINE_EXCEEDED when no answer comes in time.
   */
  command(sessionId: string, caller: Identity | undefined, request: ChatRequest): Promise<EncodedEvent | undefined> {
    const entry = this.entries.get(sessionId);
    if (!entry) {
      const elsewhere = nodeOfSession(sessionId);
      const where = elsewhere && elsewhere !== this.nodeId ? ` (this is node ${this.nodeId}; the session names node ${elsewhere})` : "";
      return Promise.reject(new ConnectError(`no such session (it ended, or lives on another node)${where}`, Code.NotFound));
    }
    if (entry.identity !== undefined && caller?.subject !== entry.identity) {
      return Promise.reject(new ConnectError("this session belongs to another identity", Code.PermissionDenied));
    }
    if (entry.waiters.size >= MAX_PENDING_COMMANDS) {
      return Promise.reject(new ConnectError(`more than ${MAX_PENDING_COMMANDS} commands of this session are waiting for an answer; slow down`, Code.ResourceExhausted));
    }
    entry.lease.refresh();
    return new Promise((resolve, reject) => {
      let settled = false;
      const settle = (finish: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        entry.waiters.delete(ended);
        finish();
      };
      const ended = (reason: string) =>
        settle(() => reject(new ConnectError(`the session ended before answering (${reason}); open a new one`, Code.Unavailable)));
      const timer = setTimeout(
        () =>
          settle(() =>
            reject(
              new ConnectError(
                `no answer within ${this.commandTimeoutMs} ms; the command may still take effect (a message resent with the same client_msg_id is stored once)`,
                Code.DeadlineExceeded,
              ),
            ),
          ),
        this.commandTimeoutMs,
      );
      timer.unref();
      entry.waiters.add(ended);
      try {
        entry.session.handle(request, (answer) => settle(() => resolve(answer)));
      } catch (err) {
        // A bug, not bad input: log it, end the session (which answers this command), tell the client only that it was internal.
        this.options.log.error({ err, session: entry.session.id }, "command failed");
        entry.session.abort(Disconnect.internal());
      }
    });
  }

  /**
   * Command as the RPC answers it: the bytes of a CommandResponse, which are
   * exactly the answering event's encoding (empty for typing).
   */
  async commandBytes(req: CommandRequest, caller: Identity | undefined): Promise<Uint8Array> {
    // No request at all is answered like a ChatRequest with no command: with an error event.
    const answer = await this.command(req.sessionId, caller, req.request ?? create(ChatRequestSchema));
    return answer ?? EMPTY_RESPONSE;
  }

  /** Nothing heard from the client for a lease: take it for gone, and say why on the stream in case it is still there. */
  private expire(entry: Entry, peer: string): void {
    if (entry.ended) return;
    const seconds = Math.round(this.options.leaseMs / 1000);
    this.options.log.info({ peer, session: entry.session.id, rooms: entry.session.describeRooms(), reason: "lease-expired" }, "session closed");
    this.forget(entry, `no command for ${seconds} s`);
    entry.session.transportClosed();
    entry.sink.end(new ConnectError(`no command for ${seconds} s: the client was taken for gone (send a ping at least every ${seconds} s)`, Code.DeadlineExceeded));
  }

  private forget(entry: Entry, reason: string): void {
    if (entry.ended) return;
    entry.ended = true;
    clearTimeout(entry.lease);
    clearTimeout(entry.expiry);
    this.entries.delete(entry.id);
    for (const waiter of [...entry.waiters]) waiter(reason);
  }
}

