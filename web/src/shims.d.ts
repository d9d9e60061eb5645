// src/hub/validate.ts, which the page shares for its room rule, counts text bytes with Node's Buffer
// in checkText (the page never calls it; it counts with TextEncoder). Declared here for the type
// check only, until validate.ts uses TextEncoder (done on the client-core branch).
declare const Buffer: { byteLength(text: string, encoding: string): number };
