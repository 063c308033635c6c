// Drives the Vercel AI SDK's default OpenAI provider — `openai(model)`,
// which speaks the Responses API — against the gateway: generateText,
// streamText and a tool call. Prints one JSON line: what came back and
// every URL the SDK called.
import { generateText, streamText, tool } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { z } from 'zod';

const [baseURL, apiKey, model] = process.argv.slice(2);
const urls = [];
const openai = createOpenAI({
  baseURL,
  apiKey,
  fetch: (url, init) => {
    urls.push(String(url));
    return fetch(url, init);
  },
});
const out = {};
const plain = await generateText({ model: openai(model), prompt: 'Say hello.' });
out.text = plain.text;
out.inputTokens = plain.usage.inputTokens;
out.outputTokens = plain.usage.outputTokens;
const stream = streamText({ model: openai(model), prompt: 'Stream three words please' });
let streamed = '';
for await (const part of stream.textStream) streamed += part;
out.streamed = streamed;
out.streamFinish = await stream.finishReason;
const called = await generateText({
  model: openai(model),
  prompt: 'Weather in Paris? mock:tool',
  tools: {
    get_weather: tool({
      description: 'Current weather in a city',
      inputSchema: z.object({ location: z.string(), unit: z.string().optional() }),
    }),
  },
});
out.toolCalls = called.toolCalls.map((c) => ({ name: c.toolName, input: c.input }));
out.urls = urls;
console.log(JSON.stringify(out));
