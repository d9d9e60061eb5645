/**
 * Authentication of one call from its `authorization` header, for the
 * handlers that answer with a ConnectError (the Connect routes, Command and
 * OpenSession on either port). Off (undefined identity) when the server has
 * no authenticator.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { AuthError, type Authenticator, type Identity } from "./auth.js";

export async function authenticateCall(authenticate: Authenticator | undefined, authorization: string | undefined): Promise<Identity | undefined> {
  if (!authenticate) return undefined;
  try {
    return await authenticate(authorization);
  } catch (err) {
    throw new ConnectError(err instanceof AuthError ? err.message : "authentication failed", Code.Unauthenticated);
  }
}
