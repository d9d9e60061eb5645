/**
 * The web client: pick a nickname and a room, then chat. The API is the
 * server's own Connect endpoint on the same origin (connect-web over fetch),
 * so the page needs no configuration and no CORS. The session (outbox,
 * acknowledgements, reconnect, resume) is the client core the terminal client
 * uses too, over OpenSession + Command.
 */
import { createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { ChatService } from "../../gen/chat/v1/chat_pb.js";
import { ChatSession, checkRoom, commandTransport } from "../../src/client/index.js";
import { ChatApp } from "./ui/chat-app.js";
import { byId } from "./ui/dom.js";

/** The API on this page's origin; with a sign-in token, every call carries it. */
function transportFor(token: string) {
  const interceptors: Interceptor[] = [];
  if (token !== "") {
    interceptors.push((next) => (req) => {
      req.header.set("authorization", `Bearer ${token}`);
      return next(req);
    });
  }
  // Binary protobuf on the wire: smaller and cheaper than JSON for the server to write.
  return createConnectTransport({ baseUrl: location.origin, useBinaryFormat: true, interceptors });
}

const login = byId("login");
const chat = byId("chat");
const form = byId<HTMLFormElement>("login-form");
const nicknameInput = byId<HTMLInputElement>("nickname");
const roomInput = byId<HTMLInputElement>("first-room");
const tokenInput = byId<HTMLInputElement>("token");
const alertBox = byId("alert");
let session: ChatSession | undefined;

function showAlert(text: string): void {
  alertBox.textContent = text;
  alertBox.hidden = false;
}

form.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const nickname = nicknameInput.value.trim();
  const room = roomInput.value.trim();
  const token = tokenInput.value.trim();
  // Signed in, the server names us after the token: an empty nickname means "whatever it says".
  if (nickname === "" && token === "") return showAlert("Pick a nickname first.");
  const problem = checkRoom(room);
  if (problem) return showAlert(problem);
  alertBox.hidden = true;
  const transport = transportFor(token);
  session = new ChatSession({ transport: commandTransport(transport), server: location.origin, nickname });
  const app = new ChatApp(session, createClient(ChatService, transport), (reason) => {
    // No room left (the nickname was refused): back to the form, saying why.
    void session?.abort();
    chat.hidden = true;
    login.hidden = false;
    showAlert(reason || "You are in no room.");
    nicknameInput.focus();
  });
  login.hidden = true;
  chat.hidden = false;
  app.join(room);
  void session.start();
  byId("composer-input").focus();
});

// Leaving the page ends the session at once instead of when the server notices.
addEventListener("pagehide", () => void session?.abort());
