// Drives `purelm serve` with the official openai npm package (serve_openai_npm_test.cpp runs it):
// chat and completions, streaming and not, and an error; prints what it got as one JSON line.
import OpenAI from "openai";

const client = new OpenAI({baseURL: process.env.PURELM_URL, apiKey: process.env.PURELM_KEY,
                           maxRetries: 0});
const model = (await client.models.list()).data[0].id;
const messages = [{role: "system", content: "Once upon a time"}, {role: "user", content: " there was"}];
const prompt = "Once upon a time there was";
const params = {model, max_tokens: 24, temperature: 0};
const out = {model};

const chat = await client.chat.completions.create({...params, messages});
out.chat = {text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason,
            usage: chat.usage};

async function collect(stream, piece) {
  let text = "", finish = null, usage = null, chunks = 0;
  for await (const c of stream) {
    ++chunks;
    if (c.usage) usage = c.usage;
    if (!c.choices.length) continue;
    text += piece(c.choices[0]) ?? "";
    if (c.choices[0].finish_reason) finish = c.choices[0].finish_reason;
  }
  return {text, finish, usage, chunks};
}
out.chat_stream = await collect(
    await client.chat.completions.create({...params, messages, stream: true,
                                          stream_options: {include_usage: true}}),
    (c) => c.delta.content);

const comp = await client.completions.create({...params, prompt});
out.completion = {text: comp.choices[0].text, finish: comp.choices[0].finish_reason,
                  usage: comp.usage};
out.completion_stream = await collect(
    await client.completions.create({...params, prompt, stream: true,
                                     stream_options: {include_usage: true}}),
    (c) => c.text);

try {
  await client.chat.completions.create({...params, messages: [{role: "wizard", content: "hi"}]});
} catch (e) {
  out.error = {status: e.status, code: e.code, type: e.type, message: e.message};
}
console.log(JSON.stringify(out));
