/**
 * Bearer-token authentication with jose. Off unless a secret or a public key
 * is configured. When on, a client's identity is the token's subject: its
 * user id (any string up to 256 characters, e.g. a UUID), which every message
 * and member carries, so nobody can speak as someone else. It is shown under a
 * display name: the one chosen at join, else the token's "name" claim, else
 * the subject itself when it is a usable nickname. A token may grant rooms
 * with its "rooms" claim (room-grants.ts).
 */
import { createPublicKey, createSecretKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { errors, jwtVerify } from "jose";
import type { RoomRole } from "../../gen/chat/v1/chat_pb.js";
import { prepareNickname } from "../hub/nickname.js";
import { parseRoomGrants } from "./room-grants.js";

export interface Identity {
  subject: string;
  /** The token's "name" claim, prepared as a nickname: the display name joins use by default. */
  name?: string;
  /** The token's "rooms" claim: a role in each room named, in that room only. */
  grants: Record<string, RoomRole>;
  /** Token expiry (ms since epoch), if the token has one. */
  expiresAtMs?: number;
}

export class AuthError extends Error {}

export interface AuthConfig {
  secret?: string;
  publicKeyFile?: string;
  issuer?: string;
  audience?: string;
  /**
   * Seconds a token is accepted after its issued-at time (iat). 0 (the
   * default): every token must carry an expiry (exp). When set, tokens
   * without exp are accepted for that long, and no token lives longer.
   */
  maxTokenAgeSec?: number;
}

export type Authenticator = (authorization: string | undefined) => Promise<Identity>;

const algorithmsFor = (key: KeyObject): string[] => {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"];
    case "ec":
      return ["ES256", "ES384", "ES512"];
    case "ed25519":
    case "ed448":
      return ["EdDSA"];
    default:
      throw new Error(`unsupported public key type ${key.asymmetricKeyType}`);
  }
};

/** Undefined when authentication is off. Throws with a clear message on a bad key file. */
export function createAuthenticator(config: AuthConfig): Authenticator | undefined {
  if (!config.secret && !config.publicKeyFile) return undefined;
  if (config.secret && config.publicKeyFile) throw new Error("give either an auth secret or a public key file, not both");
  let key: KeyObject;
  let algorithms: string[];
  if (config.secret) {
    if (Buffer.byteLength(config.secret) < 32) throw new Error("auth secret must be at least 32 bytes");
    key = createSecretKey(Buffer.from(config.secret));
    algorithms = ["HS256", "HS384", "HS512"];
  } else {
    try {
      key = createPublicKey(readFileSync(config.publicKeyFile!));
    } catch (err) {
      throw new Error(`cannot read public key ${config.publicKeyFile}: ${(err as Error).message}`);
    }
    algorithms = algorithmsFor(key);
  }
  return async (authorization) => {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization ?? "");
    if (!match) throw new AuthError("missing bearer token: send 'authorization: Bearer <jwt>' metadata");
    let payload;
    const maxAge = config.maxTokenAgeSec ?? 0;
    try {
      ({ payload } = await jwtVerify(match[1], key, {
        algorithms,
        issuer: config.issuer,
        audience: config.audience,
        // A token without an expiry would be valid for ever: refused unless a maximum age is configured.
        ...(maxAge > 0 ? { maxTokenAge: maxAge } : { requiredClaims: ["exp"] }),
      }));
    } catch (err) {
      throw new AuthError(describe(err, maxAge));
    }
    const subject = subjectOf(payload.sub);
    if (subject.problem) throw new AuthError(subject.problem);
    const name = nameOf(payload.name);
    if (name.problem) throw new AuthError(name.problem);
    const grants = parseRoomGrants(payload.rooms);
    if (typeof grants === "string") throw new AuthError(grants);
    const limits = [payload.exp, maxAge > 0 && payload.iat !== undefined ? payload.iat + maxAge : undefined].filter((t) => t !== undefined);
    return { subject: subject.value!, name: name.value, grants, expiresAtMs: limits.length > 0 ? Math.min(...limits) * 1000 : undefined };
  };
}

/** Longest subject (user id) accepted, in characters. */
export const SUBJECT_MAX_CHARS = 256;

/**
 * The user id: a subject that is a usable nickname is kept in its prepared
 * form (so "alice" signs in as the nickname "alice", as before display
 * names); any other is kept as it is, if it is short and printable.
 */
function subjectOf(sub: unknown): { value?: string; problem?: string } {
  if (typeof sub !== "string" || sub === "") return { problem: "token has no subject (sub)" };
  const prepared = prepareNickname(sub);
  if (prepared.ok) return { value: prepared.nickname };
  if ([...sub].length > SUBJECT_MAX_CHARS) return { problem: `token subject must be at most ${SUBJECT_MAX_CHARS} characters` };
  // Control characters would let a subject forge lines in logs and terminals.
  if (/[\p{Cc}\p{Cf}\p{Zl}\p{Zp}]/u.test(sub)) return { problem: "token subject must not contain control or format characters" };
  return { value: sub };
}

/** The "name" claim as a display name; absent is fine, unusable is the issuer's mistake. */
function nameOf(name: unknown): { value?: string; problem?: string } {
  if (name === undefined) return {};
  if (typeof name !== "string") return { problem: "token name claim must be a string" };
  const prepared = prepareNickname(name);
  if (!prepared.ok) return { problem: `token name claim is not a usable nickname: ${prepared.reason}` };
  return { value: prepared.nickname };
}

function describe(err: unknown, maxAge: number): string {
  if (err instanceof errors.JWTExpired) return "token expired";
  if (err instanceof errors.JWTClaimValidationFailed && err.claim === "exp" && err.reason === "missing") {
    return "token has no expiry (exp); this server requires one (or set --auth-max-token-age to accept tokens by their age)";
  }
  if (err instanceof errors.JWTClaimValidationFailed && err.claim === "iat" && maxAge > 0) {
    return `token has no usable issued-at time (iat), needed to judge its age (--auth-max-token-age ${maxAge})`;
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return "token signature is not valid";
  if (err instanceof errors.JWTClaimValidationFailed) return `token claim "${err.claim}" is not valid: ${err.reason}`;
  if (err instanceof errors.JOSEAlgNotAllowed) return "token is signed with an algorithm this server does not accept";
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return "token is malformed";
  return "token is not valid";
}
