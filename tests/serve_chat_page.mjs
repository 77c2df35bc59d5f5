// The chat page in a real headless browser (serve_http_endpoints_test.cpp runs it): Debian's
// chromium driven over the DevTools protocol with Node's WebSocket (node --experimental-websocket).
// Opens URL, sets the page's max tokens, types a question, waits for the streamed answer, saves a
// screenshot to SHOT and prints what it saw as one JSON line.
//   node --experimental-websocket serve_chat_page.mjs URL QUESTION MAX_TOKENS SHOT
import {spawn} from "node:child_process";
import {mkdtempSync, readFileSync, rmSync, writeFileSync} from "node:fs";
import {tmpdir} from "node:os";

const [url, question, maxTokens, shot] = process.argv.slice(2);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const profile = mkdtempSync(tmpdir() + "/purelm-chromium-");
const chrome = spawn("chromium", ["--headless=new", "--no-sandbox", "--disable-gpu",
                                  "--no-first-run", "--remote-debugging-port=0",
                                  `--user-data-dir=${profile}`, "--window-size=1000,560",
                                  "about:blank"], {stdio: "ignore"});
const out = {};
try {
  let port = null;
  for (let i = 0; i < 600 && !port; ++i) {
    try { port = readFileSync(profile + "/DevToolsActivePort", "utf8").split("\n")[0]; }
    catch { await sleep(100); }
  }
  if (!port) throw new Error("chromium did not start");
  const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json();
  const ws = new WebSocket(targets.find((t) => t.type === "page").webSocketDebuggerUrl);
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  let next = 0;
  const pending = new Map();
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id && pending.has(msg.id)) { pending.get(msg.id)(msg); pending.delete(msg.id); }
  };
  const send = (method, params = {}) => new Promise((resolve, reject) => {
    const id = ++next;
    pending.set(id, (msg) => msg.error ? reject(new Error(method + ": " + JSON.stringify(msg.error)))
                                       : resolve(msg.result));
    ws.send(JSON.stringify({id, method, params}));
  });
  const evaluate = async (expression) =>
      (await send("Runtime.evaluate", {expression, returnByValue: true})).result.value;
  const until = async (expression, what) => {
    for (let i = 0; i < 1200; ++i) {
      if (await evaluate(expression)) return;
      await sleep(50);
    }
    throw new Error("timed out waiting for " + what);
  };

  await send("Page.navigate", {url});
  await until(`document.readyState === "complete" && document.getElementById("model").textContent !== ""`,
              "the page and its model name");
  out.title = await evaluate("document.title");
  out.model = await evaluate(`document.getElementById("model").textContent`);
  // Count the updates of the conversation: a streamed answer arrives in many.
  await evaluate(`window.updates = 0; new MutationObserver((r) => { window.updates += r.length; })
                  .observe(document.getElementById("log"), {childList: true, subtree: true, characterData: true}); 0`);
  await evaluate(`document.getElementById("max").value = ${Number(maxTokens)}`);
  await evaluate(`document.getElementById("input").focus()`);
  await send("Input.insertText", {text: question});
  await send("Input.dispatchKeyEvent", {type: "keyDown", key: "Enter", code: "Enter",
                                        windowsVirtualKeyCode: 13});
  await until(`document.querySelector(".stats") !== null || document.querySelector(".error") !== null`,
              "the answer");
  out.question = await evaluate(`document.querySelector(".msg.user").textContent`);
  out.answer = await evaluate(`document.querySelector(".msg.assistant")?.textContent ?? null`);
  out.error = await evaluate(`document.querySelector(".error")?.textContent ?? null`);
  out.stats = await evaluate(`document.querySelector(".stats")?.textContent ?? null`);
  out.updates = await evaluate("window.updates");
  const png = await send("Page.captureScreenshot", {format: "png"});
  writeFileSync(shot, Buffer.from(png.data, "base64"));
  ws.close();
} catch (e) {
  out.failure = String(e);
} finally {
  chrome.kill();
  await sleep(200);
  rmSync(profile, {recursive: true, force: true});
}
console.log(JSON.stringify(out));
