// Pensieve's web console: one module, no framework and no build step. The server may run with no
// network at all and the page's CSP allows only this origin, so everything (charts included) is
// drawn here by hand. Model output and request data only ever go into the page as text.

const KEY = "pensieve-api-key";
const POLL_MS = 1500;
const POINTS = 80; // two minutes at one poll per 1.5 s
const MIB = 1024 * 1024;

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes, never HTML). */
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, value);
  return node;
}

// --- the API, with the key from session storage (never in the URL) ---------------------------

class AuthError extends Error {}

async function errorMessage(response) {
  try {
    const body = await response.json();
    return body.error?.message ?? `${response.status} ${response.statusText}`;
  } catch {
    return `${response.status} ${response.statusText}`;
  }
}

async function api(path, init = {}) {
  const headers = new Headers(init.headers);
  const key = sessionStorage.getItem(KEY);
  if (key) headers.set("x-api-key", key);
  const response = await fetch(path, { ...init, headers, cache: "no-store" });
  if (response.status === 401) throw new AuthError(await errorMessage(response));
  if (!response.ok) throw new Error(await errorMessage(response));
  return response;
}

const getJSON = async (path) => (await api(path)).json();

// --- connecting ------------------------------------------------------------------------------

let polling = null;

function askForKey(message) {
  clearInterval(polling);
  polling = null;
  $("console").hidden = true;
  $("forget-key").hidden = true;
  $("key-form").hidden = false;
  $("key-error").textContent = message;
  $("key-input").focus();
}

async function connect() {
  try {
    const [stats, models] = await Promise.all([
      getJSON("/v1/pensieve/stats"),
      getJSON("/v1/pensieve/models"),
    ]);
    $("key-form").hidden = true;
    $("console").hidden = false;
    $("forget-key").hidden = !sessionStorage.getItem(KEY);
    showModels(models);
    metrics.add(stats);
    await refreshRequests();
    polling ??= setInterval(poll, POLL_MS);
    $("console").dataset.ready = "true";
  } catch (error) {
    if (error instanceof AuthError) {
      // A key that was offered and refused is forgotten; a first visit just asks.
      const offered = sessionStorage.getItem(KEY);
      sessionStorage.removeItem(KEY);
      askForKey(offered ? error.message : "");
    } else {
      setStatus(`cannot reach the server: ${error.message}`, true);
    }
  }
}

async function poll() {
  try {
    metrics.add(await getJSON("/v1/pensieve/stats"));
    await refreshRequests();
    setStatus("");
  } catch (error) {
    if (error instanceof AuthError) askForKey(error.message);
    else setStatus(`cannot reach the server: ${error.message}`, true);
  }
}

function setStatus(text, bad = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", bad);
}

function showModels(rows) {
  const select = $("model");
  const chosen = select.value;
  select.replaceChildren(
    ...rows.map((row) => el("option", { value: row.name }, `${row.name} (${row.state})`)),
  );
  const fallback = rows.find((row) => row.default)?.name ?? rows[0]?.name ?? "";
  select.value = rows.some((row) => row.name === chosen) ? chosen : fallback;
  $("server-info").textContent = `${rows.length} model${rows.length === 1 ? "" : "s"} served`;
}

// --- live metrics: hand-drawn SVG sparklines -------------------------------------------------

const CHARTS = [
  { id: "decode", title: "decode tok/s", lines: [(s) => s.decode_tokens_per_s], digits: 1 },
  { id: "ttft", title: "time to first token (ms)", lines: [(s) => s.ttft_s * 1000], digits: 0 },
  {
    id: "load",
    title: "active / queued requests",
    lines: [(s) => s.active_sequences, (s) => s.queued_requests],
    digits: 0,
  },
  {
    id: "cache",
    title: "prefix-cache hit rate (%)",
    lines: [(s) => s.prefix_cache_hit_rate * 100],
    digits: 0,
  },
  { id: "memory", title: "memory in use (MiB)", lines: [(s) => s.active_memory_bytes / MIB], digits: 0 },
  { id: "prefix", title: "prefix cache (MiB)", lines: [(s) => s.prefix_cache_bytes / MIB], digits: 1 },
];
const WIDTH = 240;
const HEIGHT = 56;

class Metrics {
  constructor(root) {
    this.series = new Map(CHARTS.map((chart) => [chart.id, chart.lines.map(() => [])]));
    this.views = new Map();
    for (const chart of CHARTS) {
      const value = el("b", { class: "value" }, "-");
      const area = svg("polygon", { class: "area", points: "" });
      const lines = chart.lines.map((_, i) => svg("polyline", { class: `line line-${i}`, points: "" }));
      const plot = svg("svg", {
        viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
        preserveAspectRatio: "none",
        role: "img",
        "aria-label": chart.title,
      });
      plot.append(area, ...lines);
      const scale = el("span", { class: "scale" }, "");
      root.append(
        el("figure", { class: "chart", "data-metric": chart.id }, el("figcaption", {}, chart.title, value), plot, scale),
      );
      this.views.set(chart.id, { value, area, lines, scale });
    }
  }

  add(stats) {
    for (const chart of CHARTS) {
      const series = this.series.get(chart.id);
      chart.lines.forEach((line, i) => {
        series[i].push(line(stats));
        if (series[i].length > POINTS) series[i].shift();
      });
      this.draw(chart, series);
    }
    $("totals").textContent =
      `${stats.requests} requests · ${stats.prompt_tokens} prompt tokens ` +
      `(${stats.cached_tokens} cached) · ${stats.output_tokens} output tokens · ` +
      `peak memory ${(stats.peak_memory_bytes / MIB).toFixed(0)} MiB · up ${formatUptime(stats.uptime_s)}`;
  }

  draw(chart, series) {
    const view = this.views.get(chart.id);
    const top = Math.max(1e-9, ...series.flat()) * 1.15;
    series.forEach((points, i) => {
      const step = WIDTH / (POINTS - 1);
      const start = WIDTH - step * (points.length - 1);
      const coords = points.map(
        (v, j) => `${(start + j * step).toFixed(1)},${(HEIGHT - 2 - (v / top) * (HEIGHT - 4)).toFixed(1)}`,
      );
      view.lines[i].setAttribute("points", coords.join(" "));
      if (i === 0 && coords.length) {
        view.area.setAttribute("points", `${start.toFixed(1)},${HEIGHT} ${coords.join(" ")} ${WIDTH},${HEIGHT}`);
      }
    });
    view.value.textContent = series.map((s) => s.at(-1).toFixed(chart.digits)).join(" / ");
    view.scale.textContent = `max ${(top / 1.15).toFixed(chart.digits)}`;
  }
}

function formatUptime(seconds) {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

// --- recent requests -------------------------------------------------------------------------

let selected = null;

async function refreshRequests() {
  const list = await getJSON("/v1/pensieve/requests");
  const rows = list.data.map((row) => {
    const cells = [
      new Date(row.time * 1000).toLocaleTimeString(),
      row.route,
      row.model,
      row.prompt_tokens,
      row.cached_tokens,
      row.output_tokens,
      row.ttft_ms ? `${Math.round(row.ttft_ms)} ms` : "-",
      `${Math.round(row.duration_ms)} ms`,
      row.status >= 400 ? `${row.finish_reason} (${row.status})` : row.finish_reason,
      row.cache_miss_reason ?? "",
    ];
    const tr = el("tr", { tabindex: "0", "data-id": row.id }, ...cells.map((c, i) =>
      el("td", i >= 3 && i <= 7 ? { class: "num" } : {}, String(c))));
    if (row.id === selected) tr.classList.add("selected");
    tr.addEventListener("click", () => showRequest(row.id));
    tr.addEventListener("keydown", (event) => event.key === "Enter" && showRequest(row.id));
    return tr;
  });
  $("request-rows").replaceChildren(...rows);
  $("no-requests").hidden = rows.length > 0;
}

async function showRequest(id) {
  selected = id;
  for (const tr of $("request-rows").children) tr.classList.toggle("selected", tr.dataset.id === id);
  try {
    const detail = await getJSON(`/v1/pensieve/requests/${encodeURIComponent(id)}`);
    $("detail-title").textContent = `${detail.id} · ${detail.route} · ${detail.model}`;
    $("detail-shape").textContent = JSON.stringify(detail.shape, null, 2);
  } catch (error) {
    $("detail-title").textContent = id;
    $("detail-shape").textContent = error.message;
  }
  $("request-detail").hidden = false;
}

// --- the playground: Messages API, streamed (SSE) --------------------------------------------

let conversation = [];
let running = null;

/** Server-sent events of a response body, as {event, data}. */
async function* events(body) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replaceAll("\r\n", "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      let data = "";
      for (const line of frame.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data += line.slice(5).trim();
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

function parseTools() {
  const text = $("tools").value.trim();
  if (!text) return undefined;
  const tools = JSON.parse(text);
  if (!Array.isArray(tools)) throw new Error("tools must be a JSON array");
  return tools;
}

/** The next user turn: the prompt, or, after tool calls, the prompt as each call's result. */
function userTurn(text) {
  const last = conversation.at(-1);
  const calls = last?.role === "assistant" ? last.content.filter((b) => b.type === "tool_use") : [];
  if (!calls.length) return { role: "user", content: text };
  return {
    role: "user",
    content: calls.map((call) => ({ type: "tool_result", tool_use_id: call.id, content: text })),
  };
}

function bubble(role, label) {
  const body = el("div", { class: "blocks" });
  const usage = el("div", { class: "usage" });
  const node = el("div", { class: `message ${role}` }, el("div", { class: "role" }, label), body, usage);
  $("transcript").append(node);
  return { node, body, usage };
}

/** Applies one stream's events to a message view; keeps the blocks for the conversation. */
class Reply {
  constructor(view) {
    this.view = view;
    this.blocks = [];
    this.nodes = [];
    this.usage = {};
    this.stop = null;
    this.sent = performance.now();
    this.first = null;
  }

  on(event, data) {
    const handlers = {
      message_start: () => Object.assign(this.usage, data.message.usage),
      content_block_start: () => this.open(data.index, data.content_block),
      content_block_delta: () => this.delta(data.index, data.delta),
      content_block_stop: () => this.close(data.index),
      message_delta: () => {
        Object.assign(this.usage, data.usage);
        this.stop = data.delta.stop_reason;
      },
      error: () => {
        throw new Error(data.error?.message ?? "the stream failed");
      },
    };
    handlers[event]?.();
  }

  open(index, block) {
    this.first ??= performance.now();
    let node;
    if (block.type === "thinking") {
      this.blocks[index] = { type: "thinking", thinking: "", signature: "" };
      const text = el("div", { class: "text" });
      node = el("details", { class: "thinking" }, el("summary", {}, "thinking"), text);
      node.textNode = text;
    } else if (block.type === "tool_use") {
      this.blocks[index] = { type: "tool_use", id: block.id, name: block.name, input: {}, json: "" };
      const args = el("pre", { class: "arguments" });
      node = el("div", { class: "tool-call" }, el("span", { class: "tag" }, "tool call"), " ", el("b", {}, block.name), args);
      node.textNode = args;
    } else {
      this.blocks[index] = { type: "text", text: "" };
      node = el("div", { class: "text" });
      node.textNode = node;
    }
    this.nodes[index] = node;
    this.view.body.append(node);
  }

  delta(index, delta) {
    const block = this.blocks[index];
    const node = this.nodes[index].textNode;
    if (delta.type === "text_delta") {
      block.text += delta.text;
      node.append(delta.text);
    } else if (delta.type === "thinking_delta") {
      block.thinking += delta.thinking;
      node.append(delta.thinking);
    } else if (delta.type === "signature_delta") {
      block.signature = delta.signature;
    } else if (delta.type === "input_json_delta") {
      block.json += delta.partial_json;
      node.textContent = block.json;
    }
  }

  close(index) {
    const block = this.blocks[index];
    if (block?.type !== "tool_use") return;
    try {
      block.input = block.json ? JSON.parse(block.json) : {};
      this.nodes[index].textNode.textContent = JSON.stringify(block.input, null, 2);
    } catch {
      block.input = {};
    }
    delete block.json;
  }

  summary() {
    const u = this.usage;
    const prompt = (u.input_tokens ?? 0) + (u.cache_read_input_tokens ?? 0) + (u.cache_creation_input_tokens ?? 0);
    const parts = [`prompt ${prompt}`, `cache hit ${u.cache_read_input_tokens ?? 0}`, `output ${u.output_tokens ?? 0}`];
    if (this.first !== null) {
      parts.push(`first token ${Math.round(this.first - this.sent)} ms`);
      const seconds = (performance.now() - this.first) / 1000;
      if (seconds > 0 && u.output_tokens) parts.push(`${(u.output_tokens / seconds).toFixed(1)} tok/s`);
    }
    if (this.stop) parts.push(this.stop);
    return parts.join(" · ");
  }
}

async function send(event) {
  event.preventDefault();
  const text = $("prompt").value.trim();
  if (!text || running) return;
  $("chat-error").textContent = "";
  let tools;
  try {
    tools = parseTools();
  } catch (error) {
    $("chat-error").textContent = `tools: ${error.message}`;
    return;
  }
  const turn = userTurn(text);
  const body = {
    model: $("model").value,
    max_tokens: Number($("max-tokens").value) || 256,
    temperature: Number($("temperature").value),
    stream: true,
    messages: [...conversation, turn],
  };
  const system = $("system").value.trim();
  if (system) body.system = system;
  if (tools) body.tools = tools;
  // Half the answer's tokens at most go to reasoning, so that an answer follows it.
  if ($("thinking").checked) {
    body.thinking = { type: "enabled", budget_tokens: Math.max(1, Math.floor(body.max_tokens / 2)) };
  }

  bubble("user", typeof turn.content === "string" ? "you" : "tool result").body.append(el("div", { class: "text" }, text));
  const view = bubble("assistant", body.model);
  const reply = new Reply(view);
  $("prompt").value = "";
  running = new AbortController();
  $("send").disabled = true;
  $("stop").disabled = false;
  try {
    const response = await api("/v1/messages", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      signal: running.signal,
    });
    view.node.dataset.requestId = response.headers.get("request-id") ?? "";
    for await (const { event: name, data } of events(response.body)) reply.on(name, data);
    conversation = [...body.messages, { role: "assistant", content: reply.blocks.filter(Boolean) }];
    view.node.dataset.done = "true";
  } catch (error) {
    const message = error.name === "AbortError" ? "stopped" : error.message;
    view.usage.classList.add("error");
    view.node.dataset.done = "error";
    view.usage.textContent = message;
    if (error instanceof AuthError) askForKey(error.message);
    return;
  } finally {
    running = null;
    $("send").disabled = false;
    $("stop").disabled = true;
    view.node.scrollIntoView({ block: "end" });
  }
  view.usage.textContent = reply.summary();
  poll();
}

// --- wiring ----------------------------------------------------------------------------------

const metrics = new Metrics($("charts"));

$("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY, $("key-input").value.trim());
  $("key-input").value = "";
  connect();
});
$("forget-key").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  askForKey("");
});
$("chat-form").addEventListener("submit", send);
$("prompt").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("chat-form").requestSubmit();
});
$("stop").addEventListener("click", () => running?.abort());
$("clear").addEventListener("click", () => {
  conversation = [];
  $("transcript").replaceChildren();
});

connect();
