/**
 * `npm run token -- --sub alice`: mint a development JWT for a server started
 * with --auth-secret (HMAC) or --auth-public-key (sign with the matching
 * private key). Prints the token alone on stdout.
 */
import { createPrivateKey, createSecretKey, type KeyObject } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { SignJWT } from "jose";

const USAGE = `Usage: npm run --silent token -- --sub <user id> [--name <display name>] (--secret <hmac secret> | --private-key <pem> --alg <alg>)
       [--expires 1h] [--issuer <iss>] [--audience <aud>]

  --sub          the user id (any string up to 256 characters)
  --name         the display name used when a join asks for none (the token's name claim)
  --secret       HMAC secret, as given to the server's --auth-secret (or $AUTH_SECRET)
  --private-key  PEM private key matching the server's --auth-public-key
  --alg          signing algorithm for --private-key: RS256, ES256, EdDSA, ... (default: from the key)
  --expires      lifetime, e.g. 30m, 1h, 7d (default 1h)
`;

function keyAndAlg(values: Record<string, string | undefined>): { key: KeyObject; alg: string } {
  if (values["private-key"]) {
    const key = createPrivateKey(readFileSync(values["private-key"]));
    const alg = values.alg ?? ({ rsa: "RS256", ec: "ES256", ed25519: "EdDSA" } as Record<string, string>)[key.asymmetricKeyType ?? ""];
    if (!alg) throw new Error(`give --alg for a ${key.asymmetricKeyType} key`);
    return { key, alg };
  }
  const secret = values.secret ?? process.env.AUTH_SECRET;
  if (!secret) throw new Error("give --secret (or AUTH_SECRET) or --private-key");
  return { key: createSecretKey(Buffer.from(secret)), alg: values.alg ?? "HS256" };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      sub: { type: "string" },
      name: { type: "string" },
      secret: { type: "string" },
      "private-key": { type: "string" },
      alg: { type: "string" },
      expires: { type: "string", default: "1h" },
      issuer: { type: "string" },
      audience: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) return void process.stdout.write(USAGE);
  if (!values.sub) throw new Error("--sub is required");
  const { key, alg } = keyAndAlg({ secret: values.secret, "private-key": values["private-key"], alg: values.alg });
  let jwt = new SignJWT(values.name ? { name: values.name } : {}).setProtectedHeader({ alg }).setSubject(values.sub).setIssuedAt().setExpirationTime(values.expires!);
  if (values.issuer) jwt = jwt.setIssuer(values.issuer);
  if (values.audience) jwt = jwt.setAudience(values.audience);
  process.stdout.write(`${await jwt.sign(key)}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`token: ${err.message.split("\n")[0]}\n\n${USAGE}`);
  process.exit(2);
});
