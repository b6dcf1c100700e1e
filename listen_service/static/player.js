/* Listen player: <listen-button data-for="#article-body"></listen-button>
 * Dependency-free; all UI lives in a shadow root. No network until the
 * button scrolls into view or is pressed. Untrusted text only ever goes
 * through textContent. */
(() => {
  "use strict";
  if (customElements.get("listen-button")) return;
  const SRC = (document.currentScript && document.currentScript.src) || location.href;
  const BASE = new URL(".", SRC);
  const abs = (u) => new URL(u, BASE).href;
  // The audio as a file to keep: the server names it after the title and sends
  // it as an attachment, so the page stays (another origin's link ignores "download").
  const saveUrl = (u) => {
    const x = new URL(u, BASE);
    x.searchParams.set("download", "1");
    return x.href;
  };
  const SKIP =
    "script,style,noscript,template,nav,aside,figure,figcaption,button,select,textarea,input," +
    "svg,iframe,audio,video,listen-button,[data-listen-skip],[hidden],[aria-hidden=true]";
  const BLOCK =
    /^(P|H[1-6]|LI|BLOCKQUOTE|PRE|DD|DT|TD|TH|DIV|SECTION|ARTICLE|HEADER|FOOTER|MAIN|UL|OL|DL|TABLE|TR|HR|CAPTION|DETAILS|SUMMARY)$/;
  const RATES = [0.75, 1, 1.25, 1.5, 1.75, 2];
  /* Seconds of audio per letter, digit (numbers are read as words) and CJK
   * character, and of the pauses after a sentence and (more) a paragraph, at
   * the default rate: the figures of workers/text.py estimate_seconds, fitted
   * on the engine (a test keeps them equal). */
  const EST = { letter: 0.067, digit: 0.435, cjk: 0.229, sentence: 0.35, paragraph: 0.25 };
  const CJK = /[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\u{20000}-\u{3134f}]/gu;
  const SEP = "\u00b7";
  const store = {
    get: (k) => {
      try {
        return localStorage.getItem(k);
      } catch {
        return null;
      }
    },
    set: (k, v) => {
      try {
        localStorage.setItem(k, String(v));
      } catch {}
    },
    del: (k) => {
      try {
        localStorage.removeItem(k);
      } catch {}
    },
  };
  const reduced = () => matchMedia("(prefers-reduced-motion: reduce)").matches;
  const clock = (s) => {
    s = Math.max(0, Math.floor(s || 0));
    const h = Math.floor(s / 3600),
      m = Math.floor(s / 60) % 60,
      x = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${x}` : `${m}:${x}`;
  };
  const spoken = (s) => {
    s = Math.max(0, Math.round(s || 0));
    const m = Math.floor(s / 60);
    return (m ? `${m} min ` : "") + `${s % 60} s`;
  };

  // Icons are static path data, never data from a page or the server.
  const ICONS = {
    play: "M8 5.14v13.72c0 .79.87 1.27 1.54.84l10.8-6.86a1 1 0 0 0 0-1.68L9.54 4.3A1 1 0 0 0 8 5.14z",
    pause: "M7 5h3.5v14H7zM13.5 5H17v14h-3.5z",
    back: "M12 5V2L7 6l5 4V7a6 6 0 1 1-6 6H4a8 8 0 1 0 8-8z",
    prev: "M6 6h2v12H6zm3.5 6 8.5 6V6z",
    next: "M6 18l8.5-6L6 6zM16 6h2v12h-2z",
    vol: "M3 9v6h4l5 5V4L7 9H3zm13.5 3A4.5 4.5 0 0 0 14 8v8a4.5 4.5 0 0 0 2.5-4zM14 3.2v2.1a7 7 0 0 1 0 13.4v2.1a9 9 0 0 0 0-17.6z",
    mute: "M3 9v6h4l5 5V4L7 9H3zm12.3.3 1.4-1.4 2.3 2.3 2.3-2.3 1.4 1.4-2.3 2.3 2.3 2.3-1.4 1.4-2.3-2.3-2.3 2.3-1.4-1.4 2.3-2.3z",
    dl: "M5 20h14v-2H5zm14-11h-4V3H9v6H5l7 7z",
    close:
      "M19 6.4 17.6 5 12 10.6 6.4 5 5 6.4 10.6 12 5 17.6 6.4 19 12 13.4 17.6 19 19 17.6 13.4 12z",
    follow: "M4 5h16v2H4zm0 4h10v2H4zm0 4h16v2H4zm0 4h10v2H4zm14-2 4 3-4 3z",
  };
  const NS = "http://www.w3.org/2000/svg";
  const icon = (name, label, flip) => {
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const p = document.createElementNS(NS, "path");
    p.setAttribute("d", ICONS[name]);
    if (flip) p.setAttribute("transform", "matrix(-1 0 0 1 24 0)");
    svg.append(p);
    if (label) {
      const t = document.createElementNS(NS, "text");
      t.setAttribute("x", "12");
      t.setAttribute("y", "16.2");
      t.setAttribute("text-anchor", "middle");
      t.textContent = label;
      svg.append(t);
    }
    return svg;
  };
  const h = (tag, attrs, ...kids) => {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "text") el.textContent = v;
      else if (typeof v === "function") el.addEventListener(k, v);
      else if (v !== false && v != null) el.setAttribute(k, v === true ? "" : v);
    }
    el.append(...kids);
    return el;
  };

  // In a frame (data-audio-id) the card stays on one row at any width: the
  // embed snippet's iframe has a fixed height (listen_service/embeds.py).
  const STYLE = `
:host{all:initial!important;display:inline-block!important;font:15px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif!important;color:#1f2328!important;--a:var(--listen-accent,#0b57d0)}
:host([hidden]){display:none!important}
:host([data-audio-id]){display:block!important}
*{box-sizing:border-box}[hidden]{display:none!important}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
button,a{font:inherit;color:inherit;cursor:pointer;-webkit-tap-highlight-color:transparent}
:focus{outline:none}:focus-visible{outline:3px solid var(--a);outline-offset:2px}
svg{fill:currentColor;display:block}svg text{font:700 7px system-ui,sans-serif}
.main{display:inline-flex;align-items:center;gap:.5em;min-height:40px;padding:.5em 1.15em .5em .85em;border:0;border-radius:999px;background:var(--a);color:#fff;font-weight:600;letter-spacing:.01em;background-image:linear-gradient(90deg,rgba(255,255,255,.28) var(--p,0%),transparent 0);box-shadow:0 1px 2px rgba(0,0,0,.2);transition:filter .15s,transform .15s}
.main:hover{filter:brightness(1.1)}.main:active{transform:scale(.98)}
.main:focus-visible{outline-color:#1f2328}
.main svg{width:1.25em;height:1.25em}
.main[aria-busy=true] svg{animation:pulse 1s ease-in-out infinite alternate}
.main.err{background:#b3261e}
@keyframes pulse{to{opacity:.35}}
.bar{z-index:2147483000}
.dock{position:fixed;left:50%;bottom:16px;transform:translateX(-50%);width:min(780px,calc(100vw - 24px));animation:up .2s ease-out}
@keyframes up{from{transform:translate(-50%,20px);opacity:0}}
.card{background:#fff;border:1px solid #d0d7de;border-radius:16px;box-shadow:0 12px 32px rgba(17,24,39,.2),0 2px 6px rgba(17,24,39,.08);padding:10px 14px;display:grid;grid-template-columns:auto minmax(0,1fr) auto;gap:4px 14px;align-items:center}
:host([data-audio-id]) .card{box-shadow:none}
.ctl{display:flex;align-items:center;gap:2px}
.ib{width:36px;height:36px;padding:0;border:0;border-radius:50%;background:transparent;display:inline-grid;place-items:center;color:#1f2328;flex:none}
.ib:hover{background:#eef1f4}
.ib svg{width:22px;height:22px}
.ib.play{width:46px;height:46px;background:var(--a);color:#fff;margin:0 4px}
.ib.play svg{width:26px;height:26px}
.ib.play:hover{background:var(--a);filter:brightness(1.12)}
.ib[aria-pressed=true]{color:var(--a);background:#e8f0fe}
.mid{min-width:0}
.top{display:flex;gap:8px;align-items:baseline;min-width:0}
.title{font-weight:650;white-space:nowrap;overflow:hidden;text-overflow:ellipsis;flex:1;min-width:0}
.st{color:#57606a;font-size:12.5px;white-space:nowrap}
.seek{display:flex;align-items:center;gap:8px;font-size:12.5px;font-variant-numeric:tabular-nums;color:#57606a}
input[type=range]{flex:1;min-width:50px;height:22px;margin:0;accent-color:var(--a);cursor:pointer;background:transparent}
.track{flex:1;min-width:50px;display:flex;flex-direction:column;position:relative}
.chap{position:absolute;left:8px;right:8px;top:0;height:22px;pointer-events:none}
.chap button{position:absolute;top:2px;width:12px;height:18px;margin-left:-6px;padding:0;border:0;background:transparent;cursor:pointer;pointer-events:auto;color:inherit}
.chap button::after{content:"";position:absolute;left:5px;top:4px;width:2px;height:10px;border-radius:1px;background:currentColor;opacity:.6}
.chap button:hover::after,.chap button:focus-visible::after{opacity:1;height:14px;top:2px}
.made{height:3px;margin:0 2px;border-radius:2px;background:#eef1f4;overflow:hidden}
.made i{display:block;height:100%;width:0;background:#9aa7b5}
.vol{flex:none;width:64px}
.rate{height:30px;min-width:3.6em;padding:0 10px;border:1px solid #d0d7de;border-radius:999px;background:#fff;font-weight:650;font-size:13px;font-variant-numeric:tabular-nums}
.rate:hover{background:#eef1f4}
.voice{flex:none;align-self:center;height:24px;max-width:12em;field-sizing:content;margin:-2px 0;padding:0 4px 0 8px;border:1px solid #d0d7de;border-radius:999px;background:#fff;color:inherit;font:inherit;font-weight:600;font-size:12.5px;text-overflow:ellipsis;cursor:pointer}
.voice:hover{background:#eef1f4}
a.ib{text-decoration:none}
@media (max-width:640px){.card{grid-template-columns:auto auto;justify-content:space-between;padding:8px 10px}.mid{grid-column:1/-1;grid-row:1}.vol{display:none}.ib{width:32px;height:32px}.ib.play{width:40px;height:40px}}
@media (max-width:480px){.mu,a.ib{display:none}.ctl{gap:0}.card{gap:4px 8px}.voice{max-width:9.5em}}
@media (max-width:640px){:host([data-audio-id]) .card{grid-template-columns:auto minmax(0,1fr) auto;padding:10px 12px}:host([data-audio-id]) .mid{grid-column:auto;grid-row:auto}:host([data-audio-id]) .sn{display:none}:host([data-audio-id]) .ib.play{width:46px;height:46px}}
@media (prefers-color-scheme:dark){:host{color:#e6edf3!important}.card,.rate,.voice{background:#161b22;border-color:#3d444d}.voice{color-scheme:dark}.card{box-shadow:0 12px 32px rgba(0,0,0,.55)}.ib{color:#e6edf3}.ib:hover,.rate:hover,.voice:hover{background:#262c36}.ib[aria-pressed=true]{color:#a8c7fa;background:#1c2b41}.st,.seek{color:#9198a1}.made{background:#30363d}.made i{background:#768390}.main:focus-visible{outline-color:#e6edf3}}
@media (prefers-reduced-motion:reduce){*{transition:none!important;animation:none!important}}`;
  let sheet = null;
  const styles = (root) => {
    if (root.adoptedStyleSheets && "replaceSync" in CSSStyleSheet.prototype) {
      sheet = sheet || new CSSStyleSheet();
      if (!sheet.cssRules.length) sheet.replaceSync(STYLE);
      root.adoptedStyleSheets = [sheet];
    } else root.append(h("style", { text: STYLE }));
  };
  let globalDone = false;
  const globalStyle = () => {
    // The rules outside the shadow root: the sentence and word highlights in the article.
    if (globalDone || !document.adoptedStyleSheets) return;
    globalDone = true;
    const s = new CSSStyleSheet();
    s.replaceSync(
      "::highlight(listen-sentence){background-color:var(--listen-highlight,rgba(255,213,79,.6));color:inherit}" +
        "::highlight(listen-word){background-color:var(--listen-word-highlight,rgba(255,143,0,.55));color:inherit}",
    );
    document.adoptedStyleSheets = [...document.adoptedStyleSheets, s];
  };

  /* Characters nobody hears, dropped from the text as the server's canonical
   * form drops them (workers/canonical.py, workers/text.py INVISIBLE; a test
   * keeps the two classes equal): format characters but ZWJ and ZWNJ, and
   * control characters that are not whitespace. */
  const INVISIBLE =
    /[\0-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\xad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\u{110bd}\u{110cd}\u{13430}-\u{1343f}\u{1bca0}-\u{1bca3}\u{1d173}-\u{1d17a}\u{e0001}\u{e0020}-\u{e007f}]/u;
  const INVISIBLES = new RegExp(INVISIBLE.source, "gu");

  /* Unicode NFC, as the server reads the text: a character and the marks
   * after it are composed together, each unit of the result mapped to where
   * the first of them came from. What composes across such groups (Hangul
   * jamo) falls back to the whole text composed, unmapped (no highlight). */
  const composed = (x) => {
    if (x.text.normalize("NFC") === x.text) return x;
    let text = "";
    const nodes = [],
      offs = [],
      at = []; // at[unit of the old text] = its unit in the new
    for (const m of x.text.matchAll(/\P{M}\p{M}*|\p{M}+/gsu)) {
      const c = m[0].normalize("NFC");
      for (let k = 0; k < m[0].length; k++) at[m.index + k] = text.length;
      text += c;
      for (let k = 0; k < c.length; k++) nodes.push(x.nodes[m.index]), offs.push(x.offs[m.index]);
    }
    if (text.normalize("NFC") !== text) {
      text = x.text.normalize("NFC");
      const paras = x.paras.map((p) => ({ ...p, start: Math.min(p.start, text.length) }));
      return { text, nodes: Array(text.length).fill(null), offs: Array(text.length).fill(0), paras };
    }
    const paras = x.paras.map((p) => ({ ...p, start: at[p.start] ?? text.length }));
    return { text, nodes, offs, paras };
  };

  /* An image's description, when it has one worth hearing: a few words that
   * are not a file name or a bare "photo" (and not a decorative image, which
   * SKIP and an empty alt leave out). Figures are skipped with their captions. */
  const altText = (img) => {
    if (img.matches(SKIP) || img.closest("figure") || img.getAttribute("role") === "presentation") return "";
    const alt = (img.getAttribute("alt") || "").replace(INVISIBLES, "").replace(/\s+/g, " ").trim();
    if (words(alt) < 3 || /\.(jpe?g|png|gif|webp|avif|svg)$/i.test(alt) || /^https?:/i.test(alt)) return "";
    return `Image: ${alt}${/[.!?]$/.test(alt) ? "" : "."}`;
  };

  /* The article's text as sent to the server: paragraphs joined by blank
   * lines, whitespace collapsed. nodes/offs map each UTF-16 unit of the text
   * back to its DOM text node (null for inserted separators). */
  const extract = (root, head) => {
    let text = "",
      open = false,
      space = false;
    const nodes = [],
      offs = [],
      paras = [];
    const brk = () => {
      if (open) {
        text += "\n\n";
        nodes.push(null, null);
        offs.push(0, 0);
      }
      open = space = false;
    };
    const blockOf = (n) => {
      for (let e = n.parentElement; e && e !== root; e = e.parentElement)
        if (BLOCK.test(e.tagName)) return e;
      return root;
    };
    const walk = (el) => {
      for (let n = el.firstChild; n; n = n.nextSibling) {
        if (n.nodeType === 3) {
          const s = n.data;
          for (let i = 0; i < s.length; i++) {
            const c = s[i];
            const ch = String.fromCodePoint(s.codePointAt(i));
            if (INVISIBLE.test(ch)) {
              i += ch.length - 1;
              continue;
            }
            if (c <= " " || c === "\x85" || /\s/.test(c)) {
              space = open;
              continue;
            }
            if (!open) {
              open = true;
              paras.push({ el: blockOf(n), start: text.length });
            } else if (space) {
              text += " ";
              nodes.push(null);
              offs.push(0);
            }
            space = false;
            text += c;
            nodes.push(n);
            offs.push(i);
          }
        } else if (n.nodeType === 1) {
          if (n.tagName === "BR") space = open;
          else if (n.tagName === "IMG") {
            // Read as a paragraph of its own when it says something; never highlighted.
            const alt = altText(n);
            if (!alt) continue;
            brk();
            paras.push({ el: n, start: text.length });
            text += alt;
            for (let i = 0; i < alt.length; i++) nodes.push(null), offs.push(0);
            open = true;
            brk();
          } else if (!n.matches(SKIP) && getComputedStyle(n).display !== "none") {
            const b = BLOCK.test(n.tagName);
            if (b) brk();
            walk(n);
            if (b) brk();
          }
        }
      }
    };
    // The headline first, as a paragraph of its own, when it lies outside the text.
    if (head) {
      walk(head);
      brk();
    }
    walk(root);
    const whole = composed({ text: text.replace(/\s+$/, ""), nodes, offs, paras });
    text = whole.text;
    // Server offsets count code points; JS strings count UTF-16 units.
    const cp = [];
    let u = 0;
    for (const ch of text) {
      cp.push(u);
      u += ch.length;
    }
    cp.push(u);
    return { text, nodes: whole.nodes, offs: whole.offs, paras: whole.paras, cp };
  };
  const words = (t) => (t.match(/[\p{L}\p{N}][^\s]*/gu) || []).length;
  // About how long the audio of an extracted text lasts, in seconds.
  const seconds = (x) => {
    const count = (re) => (x.text.match(re) || []).length;
    const cjk = count(CJK),
      digits = count(/\p{Nd}/gu),
      letters = count(/[\p{L}\p{N}]/gu) - digits - cjk;
    if (letters + digits + cjk === 0) return 0;
    // Each sentence end, and each paragraph that ends without one.
    const parts = x.text.split("\n\n");
    const sentences = parts.reduce(
      (n, p) => n + (p.match(/[.!?\u3002\uff01\uff1f]+(?=\s)/gu) || []).length + 1,
      0,
    );
    const paragraphs = parts.length;
    const speech = letters * EST.letter + digits * EST.digit + cjk * EST.cjk;
    return speech + (sentences - 1) * EST.sentence + (paragraphs - 1) * EST.paragraph;
  };

  // The word of sentence timing ``s`` said at ``ms`` (a word ends where the next begins).
  const wordAt = (s, ms) => {
    let found = null;
    for (const w of (s && s.words) || []) if (w.start_ms <= ms) found = w;
    return found && ms < found.end_ms ? found : null;
  };

  const rangeFor = (x, t) => {
    let a = x.cp[t.char_start],
      b = x.cp[t.char_end] - 1;
    if (a == null || isNaN(b)) return null;
    while (a <= b && !x.nodes[a]) a++;
    while (b >= a && !x.nodes[b]) b--;
    if (a > b) return null;
    const r = document.createRange();
    try {
      r.setStart(x.nodes[a], x.offs[a]);
      r.setEnd(x.nodes[b], x.offs[b] + 1);
    } catch {
      return null; // the page changed that text since it was read: no highlight
    }
    return r;
  };

  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  // What a reader is told of a failure: the first part of the service's public
  // message ("the audio encoder failed; post the article again to retry" → "The
  // audio encoder failed."), never a browser's own error text.
  const told = (e) => {
    const m = (e && e.code && String(e.message || "").split(";")[0].trim()) || "";
    return m ? `${m[0].toUpperCase()}${m.slice(1)}${/[.!?]$/.test(m) ? "" : "."}` : "The audio could not be made.";
  };
  const failure = (message, code) => Object.assign(new Error(message), { code });
  // A queued job's wait as the reader hears it: its place in its lane when known.
  const waiting = (j) => {
    const n = j.queue && j.queue.position;
    if (n == null) return "Waiting for a worker\u2026";
    return n ? `Waiting \u2014 ${n} ${n === 1 ? "article" : "articles"} ahead` : "Starting\u2026";
  };
  // A 429 is the server asking us to come back later, not a failure: wait as
  // long as its Retry-After says (5 s if it cannot be read), at most BUSY_TRIES
  // times, telling the reader through onBusy.
  const BUSY_TRIES = 20;
  const getJSON = async (url, opts, onBusy) => {
    for (let tries = 1; ; tries++) {
      const r = await fetch(url, opts);
      let body = null;
      try {
        body = await r.json();
      } catch {}
      if (r.status === 429 && tries < BUSY_TRIES) {
        const after = parseInt(r.headers.get("Retry-After"), 10);
        if (onBusy) onBusy();
        await sleep(1000 * Math.min(Math.max(after >= 0 ? after : 5, 1), 120));
        continue;
      }
      if (!r.ok) throw failure((body && body.error && body.error.message) || `HTTP ${r.status}`, body && body.error && body.error.code);
      return body;
    }
  };

  /* The voices a site offers a reader (data-voices: ids separated by spaces or
   * commas), each once, at most 12. The service knows a voice by its full id,
   * the last part of it or its name (workers/voices.py resolve_voice), and so
   * does findVoice among GET /api/v1/voices's list. */
  const voiceIds = (s) => [...new Set((s || "").split(/[\s,]+/).filter(Boolean))].slice(0, 12);
  const findVoice = (list, id) => {
    const w = String(id).trim().toLowerCase();
    return list.find((v) => [v.id.toLowerCase(), v.id.toLowerCase().split("/").pop(), String(v.name || "").toLowerCase()].includes(w));
  };
  // A voice as the picker names it: a Piper voice by its speaker ("Joe (neural)",
  // from "English (United States) - joe medium (Piper)"), espeak-ng's by its language.
  const voiceLabel = (v) => {
    const name = String(v.name || v.id);
    if (v.engine !== "piper") return `${name}, ${v.engine === "espeak-ng" ? "eSpeak NG" : v.engine}`;
    const m = / - (.+?)(?: (?:x_low|low|medium|high))? \(Piper\)$/.exec(name);
    const who = (m ? m[1] : name.replace(/\s*\(Piper\)$/, "")).replace(/_/g, " ");
    return `${who[0].toUpperCase()}${who.slice(1)} (neural)`;
  };
  // A request the reader replaced with another (a change of voice) ends quietly.
  const SUPERSEDED = "superseded";

  /* Progressive playback: the audio of a job still being made, through Media
   * Source Extensions, so that the <audio> element keeps one source from the
   * first sentence to the last and the end of the job changes only its
   * duration. The bytes come from the live stream (the audio URL while the job
   * works) and then, for whatever it did not deliver (cut short by the
   * browser's buffer quota, a dropped connection, a worker that died), from the
   * finished file by range requests: both carry the same MP3 frames, the file
   * behind a header (an ID3 tag and the Xing frame its encoder rewrites). */
  // Not Safari's ManagedMediaSource: it may evict buffered audio ahead of
  // playback, which this feed (appending only after what it sent) would not refill.
  const MSE = window.MediaSource;
  const MP3 = "audio/mpeg";
  // The language the page declares for the article: the lang of the article or
  // its nearest ancestor that has one (<html> included); only tag-shaped values,
  // as lang="" means "unknown" and a free-text value names no voice.
  /* The article's title when data-title does not give it: the page's headline
   * (og:title, else the article's <h1>), else the document's title, without a
   * trailing " | The Daily Harbour" (og:site_name, or a short last part after
   * " | ", " – ", " — " or " · "). */
  const SITE_SEP = /\s+[|\u2013\u2014\u00b7]\s+/;
  /* The article's headline on the page: the <h1> of the <article> (or <main>)
   * the text is in, else of any article or main, else the page's only <h1>
   * unless it is in a header, footer, navigation or link (a site's logo). */
  const headingOf = (root) => {
    const scope = root && root.closest("article, main");
    const h1 = (scope && scope.querySelector("h1")) || document.querySelector("article h1, main h1");
    if (h1) return h1;
    const all = document.querySelectorAll("h1");
    return all.length === 1 && !all[0].closest("header, footer, nav, a") ? all[0] : null;
  };
  const pageTitle = (root) => {
    const meta = (p) => ((document.querySelector(`meta[property="${p}"]`) || {}).content || "").trim();
    const h1 = headingOf(root) || document.querySelector("h1");
    const raw = (meta("og:title") || (h1 && h1.textContent) || document.title || "").replace(/\s+/g, " ").trim();
    const site = meta("og:site_name");
    if (site && raw.endsWith(site) && raw.length > site.length) {
      const cut = raw.slice(0, -site.length).replace(/\s*[|\u2013\u2014\u00b7:-]\s*$/, "");
      if (cut) return cut;
    }
    const parts = raw.split(SITE_SEP);
    const last = parts[parts.length - 1];
    return parts.length > 1 && last.length <= 40 && raw.length - last.length >= 15
      ? raw.slice(0, raw.length - last.length).replace(/\s*[|\u2013\u2014\u00b7]\s*$/, "")
      : raw;
  };
  const pageLang = (el) => {
    const owner = (el && el.closest("[lang]")) || document.documentElement;
    const lang = (owner.getAttribute("lang") || "").trim();
    return /^[A-Za-z]{2,3}([-_][A-Za-z0-9]{1,8})*$/.test(lang) ? lang.slice(0, 50) : "";
  };
  const streamable = (job) =>
    !!(MSE && MSE.isTypeSupported && MSE.isTypeSupported(MP3)) && /\.mp3$/.test(new URL(job.audio_url, BASE).pathname);
  const PIECE = 512 * 1024; // bytes per range request for the rest of the file
  const AHEAD_S = 120; // how far ahead of playback the rest of the file is fetched
  const KEEP_S = 10; // played audio kept when the buffer runs out of room
  const BITRATES = [
    [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160],
    [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
  ];
  const SAMPLE_RATES = { 3: [44100, 48000, 32000], 2: [22050, 24000, 16000], 0: [11025, 12000, 8000] };
  // Where a finished MP3's plain frames start (as workers/live.py finds it).
  const framesStart = (b) => {
    let o = 0;
    if (b[0] === 0x49 && b[1] === 0x44 && b[2] === 0x33)
      o = 10 + (b[5] & 0x10 ? 10 : 0) + (((b[6] & 127) << 21) | ((b[7] & 127) << 14) | ((b[8] & 127) << 7) | (b[9] & 127));
    if (b[o] !== 0xff || (b[o + 1] & 0xe0) !== 0xe0) throw new Error("the audio is not an MP3 file");
    const v = (b[o + 1] >> 3) & 3;
    const rate = SAMPLE_RATES[v] && SAMPLE_RATES[v][(b[o + 2] >> 2) & 3];
    const kbps = BITRATES[v === 3 ? 1 : 0][b[o + 2] >> 4];
    if (!rate || !kbps) throw new Error("the audio is not an MP3 file");
    const len = Math.floor(((v === 3 ? 144 : 72) * kbps * 1000) / rate) + ((b[o + 2] >> 1) & 1);
    const frame = String.fromCharCode(...b.subarray(o, o + len));
    return /Xing|Info/.test(frame) ? o + len : o;
  };

  class LiveFeed {
    constructor(audio, url, onAppend) {
      this.a = audio;
      this.url = url;
      this.onAppend = onAppend;
      this.got = 0; // bytes of the stream appended so far
      this.stop = new AbortController();
      this.closed = false;
    }

    // Attaches a media source to the audio element; rejects where the page or
    // the browser will not have one (a Content-Security-Policy without blob:).
    open() {
      return new Promise((ok, fail) => {
        const ms = (this.ms = new MSE());
        const late = setTimeout(() => fail(new Error("the media source did not open")), 3000);
        // A page whose policy forbids blob: media refuses the source at once.
        this.a.addEventListener("error", () => fail(new Error("the media source was refused")), { once: true });
        ms.addEventListener(
          "sourceopen",
          () => {
            clearTimeout(late);
            try {
              this.sb = ms.addSourceBuffer(MP3);
              ok();
            } catch (e) {
              fail(e);
            }
          },
          { once: true },
        );
        this.objectUrl = URL.createObjectURL(ms);
        this.a.src = this.objectUrl;
      });
    }

    close() {
      this.closed = true;
      this.stop.abort();
      if (this.objectUrl) URL.revokeObjectURL(this.objectUrl);
    }

    // Seconds of audio from the start that can play, and the first still kept.
    made() {
      const b = this.sb && this.sb.buffered;
      return b && b.length ? b.end(b.length - 1) : 0;
    }

    kept() {
      const b = this.sb && this.sb.buffered;
      return b && b.length ? b.start(0) : 0;
    }

    idle() {
      return this.sb.updating ? new Promise((r) => this.sb.addEventListener("updateend", r, { once: true })) : Promise.resolve();
    }

    // Appends the next bytes of the stream; false when the buffer is full of
    // audio not played yet (the bytes are then not taken).
    async append(bytes) {
      for (;;) {
        await this.idle();
        if (this.closed) return false;
        try {
          this.sb.appendBuffer(bytes);
          await this.idle();
          this.got += bytes.length;
          if (this.onAppend) this.onAppend();
          return true;
        } catch (e) {
          if (e.name !== "QuotaExceededError") throw e;
          const from = this.kept(),
            to = this.a.currentTime - KEEP_S;
          if (to - from < 1) return false;
          this.sb.remove(from, to);
        }
      }
    }

    // Follows the job: its live stream at once (the server holds the request
    // of a queued job until a worker starts it), then the finished file.
    // ``working`` resolves when the job is being made; ``ready`` with the
    // finished job (it rejects if the job fails). A live stream that ends
    // before the job (its worker died: a retry streams from the start again)
    // or is refused (the server's streams are all taken) is asked for again
    // while the job works.
    async run(working, ready) {
      let done = false,
        started = false;
      const over = () => (done = true);
      ready.then(over, over);
      working.then(() => (started = true));
      while (!done && !this.closed && !this.full) {
        const ended = await this.live();
        if (done || this.closed || this.full) break;
        if (!started) await Promise.race([working, ready]);
        else await Promise.race([ready, sleep(ended ? 500 : 2000)]);
      }
      await ready;
      await this.rest();
    }

    // The live stream, until it ends (true) or stops (false: refused, gone,
    // the buffer full, or the job already finished).
    async live() {
      let r;
      try {
        r = await fetch(this.url, { cache: "no-store", signal: this.stop.signal });
      } catch {
        return false;
      }
      // The finished file (it has an ETag) is read by ranges, past its header.
      if (!r.ok || !r.body || r.headers.get("ETag")) {
        if (r.body) r.body.cancel().catch(() => {});
        return false;
      }
      const reader = r.body.getReader();
      let skip = this.got; // a new attempt's stream starts again from the first byte
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return true;
          let bytes = value;
          if (skip) {
            const n = Math.min(skip, bytes.length);
            skip -= n;
            bytes = bytes.subarray(n);
            if (!bytes.length) continue;
          }
          if (!(await this.append(bytes))) {
            this.full = true;
            reader.cancel().catch(() => {});
            return false;
          }
        }
      } catch {
        return false;
      }
    }

    async range(from, to) {
      const r = await fetch(this.url, { headers: { Range: `bytes=${from}-${to}` }, signal: this.stop.signal });
      if (r.status !== 206) throw new Error(`the audio could not be read (HTTP ${r.status})`);
      const total = /\/(\d+)$/.exec(r.headers.get("Content-Range") || "");
      return { bytes: new Uint8Array(await r.arrayBuffer()), size: total ? +total[1] : 0 };
    }

    // What the live stream did not deliver, from the finished file, kept
    // AHEAD_S ahead of playback; then the end of the stream: the duration is final.
    async rest() {
      const head = await this.range(0, 64 * 1024 - 1);
      const start = framesStart(head.bytes);
      while (!this.closed && start + this.got < head.size) {
        if (this.made() - this.a.currentTime > AHEAD_S) {
          await sleep(1000);
          continue;
        }
        const from = start + this.got;
        const { bytes } = await this.range(from, Math.min(head.size, from + PIECE) - 1);
        if (!(await this.append(bytes))) await sleep(1000);
      }
      if (this.closed) return;
      await this.idle();
      if (this.ms.readyState === "open") this.ms.endOfStream();
    }
  }

  /* Listening analytics: a play, 25/50/75/100 % of the audio reached (each once per
   * play), a speed change, a download, sent to the events_url the service gave
   * with the job (none when the site switched analytics off, nor with
   * data-analytics="off"). Counters only: no cookies (credentials omitted), no
   * referrer, nothing about the reader. fetch with keepalive outlives the page
   * like a beacon; sendBeacon (which would send cookies) only where it is missing. */
  const MILESTONES = [25, 50, 75, 100];
  const KEEPALIVE = (() => {
    try {
      return "keepalive" in new Request(location.href);
    } catch {
      return false;
    }
  })();
  const beacon = (url, event) => {
    const body = JSON.stringify(event);
    if (KEEPALIVE) {
      const opts = { method: "POST", body, keepalive: true, credentials: "omit", mode: "no-cors", referrerPolicy: "no-referrer" };
      fetch(url, opts).catch(() => {});
    } else if (navigator.sendBeacon) {
      try {
        navigator.sendBeacon(url, body);
      } catch {}
    }
  };

  class ListenButton extends HTMLElement {
    connectedCallback() {
      if (this.shadowRoot) return;
      const root = this.attachShadow({ mode: "open" });
      styles(root);
      this.solo = this.hasAttribute("data-audio-id");
      const b = (cls, label, ic, fn) =>
        h("button", { type: "button", class: `ib ${cls}`, "aria-label": label, title: label, click: fn }, ic);
      this.btn = h("button", { type: "button", class: "main", click: () => this.press() });
      this.btnIcon = h("span", {}, icon("play"));
      this.btnText = h("span", { text: "Listen" });
      this.btn.append(this.btnIcon, this.btnText);
      this.live = h("div", { class: "sr", role: "status", "aria-live": "polite" });
      this.a = h("audio", { preload: "metadata" });
      this.playBtn = b("play", "Play", icon("play"), () => this.press());
      // A heading: named by its text, the whole title however much shows
      // (Chromium names a plain element by neither its text nor its tooltip).
      this.ttl = h("div", { class: "title", role: "heading", "aria-level": "2" });
      this.st = h("div", { class: "st", "aria-hidden": "true" });
      this.el = h("span", { text: "0:00" });
      this.tot = h("span", { text: "0:00" });
      this.seek = h("input", {
        type: "range",
        min: "0",
        max: "0",
        step: "1",
        value: "0",
        "aria-label": "Seek",
        input: () => this.jump(+this.seek.value),
      });
      // The part of an audio still being made that can already play.
      this.madeFill = h("i");
      this.madeBar = h("div", { class: "made", hidden: true }, this.madeFill);
      // The article's headings as chapter marks over the seek bar.
      this.chap = h("div", { class: "chap" });
      this.rate = h("button", {
        type: "button",
        class: "rate",
        click: () => this.setRate(RATES[(RATES.indexOf(this.a.playbackRate) + 1) % RATES.length] || 1, true),
      });
      // The voice, when the site offers several (data-voices): shown once the
      // service has said which of them it has (offerVoices).
      this.offered = this.solo ? [] : voiceIds(this.dataset.voices);
      this.voicePick = h("select", {
        class: "voice",
        "aria-label": "Voice",
        title: "Voice",
        hidden: true,
        change: () => this.pickVoice(this.voicePick.value),
      });
      this.follow = b("", "Follow the text", icon("follow"), () => {
        const on = this.follow.getAttribute("aria-pressed") !== "true";
        this.follow.setAttribute("aria-pressed", String(on));
        store.set("listen:follow", on ? "1" : "0");
        this.say(on ? "Following the text" : "Not following the text");
        if (on) this.reveal();
      });
      this.follow.setAttribute("aria-pressed", String(store.get("listen:follow") !== "0"));
      this.follow.hidden = this.solo;
      this.muteBtn = b("mu", "Mute", icon("vol"), () => (this.a.muted = !this.a.muted));
      this.vol = h("input", {
        type: "range",
        class: "vol",
        min: "0",
        max: "1",
        step: "0.05",
        value: "1",
        "aria-label": "Volume",
        input: () => {
          this.a.volume = +this.vol.value;
          this.a.muted = false;
        },
      });
      this.dl = h(
        "a",
        { class: "ib", download: "", "aria-label": "Download audio", title: "Download audio", hidden: true, click: () => this.report("download") },
        icon("dl"),
      );
      const close = b("", "Close player", icon("close"), () => this.close());
      close.hidden = this.solo;
      this.bar = h(
        "div",
        { class: this.solo ? "bar" : "bar dock", role: "region", "aria-label": "Listen: audio player", hidden: !this.solo },
        h(
          "div",
          { class: "card" },
          h(
            "div",
            { class: "ctl" },
            b("sn", "Previous sentence", icon("prev"), () => this.sentence(-1)),
            b("", "Back 10 seconds", icon("back", "10"), () => this.skip(-10)),
            this.playBtn,
            b("", "Forward 10 seconds", icon("back", "10", true), () => this.skip(10)),
            b("sn", "Next sentence", icon("next"), () => this.sentence(1)),
          ),
          h("div", { class: "mid" }, h("div", { class: "top" }, this.ttl, this.st, this.voicePick), h("div", { class: "seek" }, this.el, h("div", { class: "track" }, this.seek, this.chap, this.madeBar), this.tot)),
          h("div", { class: "ctl" }, this.rate, this.follow, this.muteBtn, this.vol, this.dl, close),
        ),
      );
      this.btn.hidden = this.solo;
      root.append(this.btn, this.bar, this.live, this.a);
      this.wireAudio();
      this.setRate(+store.get("listen:rate") || 1, false);
      const v = store.get("listen:vol");
      if (v != null) this.a.volume = this.vol.value = +v;
      root.addEventListener("keydown", (e) => this.key(e));
      this.state = "idle";
      this.cur = -1;
      if (this.solo) {
        this.setTitle(this.dataset.title || "Listen");
        this.tot.textContent = clock(+this.dataset.duration || 0);
        this.seek.max = String(+this.dataset.duration || 0);
      }
      this.io = new IntersectionObserver((es) => {
        if (es.some((e) => e.isIntersecting)) this.wake();
      });
      this.io.observe(this);
    }

    disconnectedCallback() {
      if (this.io) this.io.disconnect();
      // A player moved in the page is connected again before this runs; one
      // taken off the page lets go of its live audio and its job's events.
      queueMicrotask(() => {
        if (this.isConnected) return;
        if (this.es) this.es.close();
        if (this.feed) this.feed.close();
        this.es = this.feed = null;
        this.a.pause();
      });
    }

    wake() {
      if (this.io) this.io.disconnect();
      this.io = null;
      if (this.solo || this.estimate) return;
      const t = this.target();
      const secs = t ? seconds(this.read(t)) : 0;
      if (!secs) return;
      this.estimate = Math.max(1, Math.round(secs / 60));
      this.idleLabel();
    }

    // The headline, read first, when the page shows it outside the article's text
    // (data-headline="off": never).
    headline(t) {
      const hd = t && this.dataset.headline !== "off" ? headingOf(t) : null;
      if (!hd || t.contains(hd) || hd.contains(t) || hd.closest(SKIP) || !hd.getClientRects().length) return null;
      return hd;
    }

    // The text the press posts, headline first, mapped to the page.
    read(t) {
      return extract(t, this.headline(t));
    }

    articleTitle(root) {
      return this.dataset.title || pageTitle(root);
    }

    target() {
      const sel = this.dataset.for;
      return sel ? document.querySelector(sel) : this.closest("article") || document.querySelector("article, main");
    }

    idleLabel() {
      this.setMain("play", this.estimate ? `Listen ${SEP} ${this.estimate} min` : "Listen");
      this.btn.setAttribute("aria-label", this.estimate ? `Listen to this article, about ${this.estimate} minutes` : "Listen to this article");
    }

    setMain(ic, text) {
      this.btnIcon.replaceChildren(icon(ic));
      this.btnText.textContent = text;
      this.btn.removeAttribute("aria-label");
    }

    // The whole title, also where the card cuts it short: as the tooltip, and
    // as the accessible name of the title heading.
    setTitle(t) {
      this.ttl.textContent = t;
      this.ttl.title = t;
    }

    say(msg) {
      // Cleared first so that repeating a message is announced again.
      this.live.textContent = "";
      setTimeout(() => (this.live.textContent = msg), 30);
    }

    press() {
      this.wake();
      if (this.state === "preparing") return;
      if (this.state === "ready") {
        this.open();
        this.toggle();
      } else this.start();
    }

    toggle() {
      if (this.a.paused || this.a.ended) this.play();
      else this.a.pause();
    }

    play() {
      this.open();
      const p = this.a.play();
      if (p) p.catch((e) => e.name === "NotAllowedError" && this.say("Ready. Press play to listen."));
    }

    open() {
      this.bar.hidden = false;
    }

    close() {
      this.a.pause();
      this.bar.hidden = true;
      this.clearMark();
      this.idleLabel();
      this.say("Player closed");
      this.btn.focus({ preventScroll: true });
    }

    async start() {
      // Each start supersedes the one before (a change of voice while it prepares).
      const gen = (this.gen = (this.gen || 0) + 1);
      const stale = () => gen !== this.gen;
      if (this.stopEvents) this.stopEvents();
      this.onBusy = () => this.retrying();
      this.state = "preparing";
      this.chap.replaceChildren();
      this.btn.classList.remove("err");
      this.btn.setAttribute("aria-busy", "true");
      this.setMain("play", "Preparing\u2026");
      this.st.textContent = "Preparing\u2026";
      this.say("Preparing audio\u2026");
      try {
        let meta;
        if (this.solo) {
          meta = await getJSON(abs(`audio/${encodeURIComponent(this.dataset.audioId)}.json`), undefined, this.onBusy);
        } else {
          const t = this.target();
          this.x = t ? this.read(t) : null;
          if (!this.x || !this.x.text) throw failure("no article text was found on this page", "no_text");
          // By code points, as the server counts (a cut pair would be rejected);
          // control characters (a newline in data-title) would be rejected too.
          const raw = this.articleTitle(t).replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ").trim();
          const title = Array.from(raw).slice(0, 300).join("") || undefined;
          // A reader waits for this one: the interactive lane, ahead of bulk work.
          const body = { text: this.x.text, title, priority: "interactive" };
          if (this.offered.length && !this.voice) await this.offerVoices();
          if (stale()) return;
          const voice = this.voice || this.dataset.voice;
          if (voice) body.voice = voice;
          const lang = this.dataset.lang || pageLang(t);
          if (lang) body.lang = lang;
          if (this.dataset.bitrate) body.bitrate = +this.dataset.bitrate;
          const headers = { "Content-Type": "application/json" };
          if (this.dataset.key) headers["X-Listen-Key"] = this.dataset.key;
          const post = { method: "POST", headers, body: JSON.stringify(body) };
          let job;
          try {
            job = await getJSON(abs("api/v1/listen"), post, this.onBusy);
          } catch (e) {
            // The page's lang is a hint, not the publisher's choice: one that names
            // no installed voice is read in the service's default voice instead.
            if (e.code !== "unknown_voice" || this.dataset.lang || !body.lang) throw e;
            delete body.lang;
            job = await getJSON(abs("api/v1/listen"), { ...post, body: JSON.stringify(body) }, this.onBusy);
          }
          if (stale()) return;
          const off = (this.dataset.analytics || "").trim().toLowerCase() === "off";
          this.events = job.events_url && this.dataset.key && !off ? abs(job.events_url) : null;
          if (this.feed) this.feed.close();
          this.feed = null;
          if ((job.status === "queued" || job.status === "working") && streamable(job) && (await this.stream(job, t, stale))) return;
          job = await this.track(job, stale);
          meta = await getJSON(abs(job.timings_url), undefined, this.onBusy);
          if (stale()) return;
          this.hook(t);
        }
        this.load(meta);
      } catch (e) {
        if (stale() || e.code === SUPERSEDED) return;
        const streamed = this.feed;
        if (streamed) streamed.close();
        this.feed = null;
        this.state = "error";
        if (streamed) {
          // The job failed while its audio played: stop where it is.
          this.a.pause();
          this.madeBar.hidden = true;
        }
        // Short and for readers; the details are in the operators' job record.
        const msg = told(e);
        this.st.textContent = msg;
        this.btn.removeAttribute("aria-busy");
        this.btn.classList.add("err");
        this.setMain("play", "Couldn\u2019t prepare audio \u2014 retry");
        this.say(msg);
      }
    }

    async track(job, stale = () => false) {
      const busy = (j) => j.status === "queued" || j.status === "working";
      if (!busy(job)) return this.done(job);
      this.progress(job);
      if (window.EventSource) {
        try {
          job = await new Promise((ok, fail) => {
            const es = (this.es = new EventSource(`${abs(job.status_url)}/events`));
            this.stopEvents = () => {
              es.close();
              fail(new Error("stream"));
            };
            let failures = 0;
            es.addEventListener("timings", (e) => {
              const d = JSON.parse(e.data);
              this.addTimings(d.from, d.timings);
            });
            es.addEventListener("status", (e) => {
              failures = 0;
              const j = JSON.parse(e.data);
              this.progress(j);
              if (!busy(j)) {
                es.close();
                ok(j);
              }
            });
            es.onerror = (e) => {
              // A stream the server ended (its time is up, or it turned us away
              // for being over a bound) is reopened by EventSource itself after
              // the server's "retry:". Give up on it, for long polls, when it
              // reported an error, was refused (a 429 or 503 closes it), or
              // cannot reconnect.
              if (e.data === undefined && es.readyState === EventSource.CONNECTING && ++failures < 3) return;
              es.close();
              fail(new Error("stream"));
            };
          });
        } catch {}
      }
      // A long poll over the server's bounds comes back at once with nothing
      // new: ask again after 1 s, 2 s, 4 s, then every 5 s, not in a tight loop.
      let pause = 1000;
      const gone = () => failure("another voice was chosen", SUPERSEDED);
      while (busy(job)) {
        if (stale()) throw gone();
        const asked = Date.now();
        const seen = `${job.status} ${job.progress}`;
        job = await getJSON(`${abs(job.status_url)}?wait=20`, undefined, this.onBusy);
        if (stale()) throw gone();
        this.progress(job);
        if (!busy(job)) break;
        if (`${job.status} ${job.progress}` !== seen) pause = 1000;
        else if (Date.now() - asked < 1000) {
          await sleep(pause);
          pause = Math.min(2 * pause, 5000);
        }
      }
      if (stale()) throw gone();
      return this.done(job);
    }

    // Plays a job's audio while it is made (LiveFeed); false where this page
    // or browser cannot, and the caller waits for the whole file instead.
    async stream(job, t, stale) {
      const feed = new LiveFeed(this.a, abs(job.audio_url), () => this.extent());
      try {
        await feed.open();
      } catch {
        feed.close();
        this.a.removeAttribute("src");
        return false;
      }
      this.feed = feed;
      this.meta = { id: job.id, audio_url: job.audio_url, timings_url: job.timings_url, duration_s: 0 };
      this.timings = [];
      this.ranges = [];
      this.total = 0;
      this.posKey = `listen:pos:${job.id}`;
      this.heard = null;
      this.resume = 0;
      this.state = "ready"; // the buttons play and pause from now on
      this.btn.removeAttribute("aria-busy");
      this.btn.style.removeProperty("--p");
      this.setTitle(this.articleTitle(t) || "Listen");
      this.madeBar.hidden = false;
      this.hook(t);
      this.a.playbackRate = this.a.defaultPlaybackRate = this.rateValue;
      let working;
      this.working = new Promise((r) => (working = r));
      this.started = working;
      const ready = this.track(job, stale);
      const fed = feed.run(this.working, ready);
      fed.catch(() => {}); // a failed job is reported by ``ready``
      // While the press still counts as the reader's gesture; after a change of
      // voice, once the sentence it was at can play (catchUp).
      if (this.resumeSentence == null) this.play();
      this.making(job);
      const done = await ready;
      const meta = await getJSON(abs(done.timings_url), undefined, this.onBusy);
      if (this.feed !== feed) return true; // pressed again meanwhile
      this.meta = meta;
      this.addTimings(0, meta.timings || []);
      this.total = meta.duration_s;
      this.chapters();
      this.dl.href = saveUrl(meta.audio_url);
      this.dl.hidden = false;
      this.st.textContent = "";
      this.extent();
      try {
        await fed;
      } catch {
        // The rest could not be fed: the finished file plays from here on.
        if (this.feed === feed) this.toFile(this.a.currentTime);
        return true;
      }
      this.madeBar.hidden = true;
      this.extent();
      return true;
    }

    // The state of a job whose audio plays while it is made.
    making(j) {
      if (j.status !== "queued") this.started();
      if (j.timings) this.addTimings(0, j.timings);
      const pct = Math.round(100 * (j.progress || 0));
      if (j.status === "queued") this.st.textContent = waiting(j);
      else if (j.status === "working") this.st.textContent = `Making audio\u2026 ${pct}%`;
      const made = (j.made_ms || 0) / 1000;
      // The whole length, estimated from the part made while it is made.
      if (j.status === "working" && j.progress > 0.02 && made) this.total = made / j.progress;
      this.extent();
    }

    addTimings(from, list) {
      if (!this.feed || !list || from > this.timings.length) return;
      list.forEach((t, i) => {
        this.timings[from + i] = t;
        this.ranges[from + i] = this.x ? rangeFor(this.x, t) : null;
      });
      this.cur = -2; // repaint the highlight with what is known now
      this.paint();
      this.catchUp();
    }

    // The seek bar of audio being made: its whole (estimated) length, and the
    // part that can play.
    extent() {
      if (!this.feed) return;
      const made = this.feed.made();
      const final = this.meta.duration_s > 0;
      const total = Math.max(final ? this.meta.duration_s : this.total || 0, made);
      this.seek.max = String(total);
      this.tot.textContent = final || !total ? clock(total) : `~${clock(total)}`;
      this.madeFill.style.width = `${total ? Math.min(100, (100 * made) / total) : 0}%`;
      this.paint();
      this.catchUp();
    }

    // After a change of voice, the audio being made plays from the sentence the
    // reader was at as soon as that sentence's audio is there.
    catchUp() {
      const i = this.resumeSentence,
        f = this.feed;
      if (i == null || !f) return;
      const s = this.timings[i],
        final = this.meta.duration_s > 0;
      if (!s && !final) return;
      const at = s ? s.start_ms / 1000 : 0;
      if (!final && f.made() < at + 0.5) return;
      this.resumeSentence = null;
      this.jump(at);
      this.play();
    }

    // Leaves the media source for the finished file, at ``t`` seconds.
    toFile(t) {
      if (this.feed) this.feed.close();
      this.feed = null;
      this.madeBar.hidden = true;
      const playing = !this.a.paused;
      this.a.src = abs(this.meta.audio_url);
      this.a.currentTime = Math.max(0, Math.min(t, this.meta.duration_s - 0.05));
      if (playing) this.play();
      this.tot.textContent = clock(this.meta.duration_s);
      this.seek.max = String(this.meta.duration_s);
      this.paint();
    }

    retrying() {
      this.setMain("play", "Busy, retrying\u2026");
      this.lastMsg = "busy";
      this.say("Busy, retrying\u2026");
    }

    done(job) {
      if (job.status !== "ready") throw failure((job.error && job.error.message) || "the audio could not be made", (job.error && job.error.code) || "failed");
      return job;
    }

    progress(j) {
      if (this.feed) return this.making(j);
      const pct = Math.round(100 * (j.progress || 0));
      this.btn.style.setProperty("--p", `${pct}%`);
      const msg = j.status === "queued" ? waiting(j) : `Preparing audio\u2026 ${pct}%`;
      this.setMain("play", j.status === "queued" ? msg : `Preparing\u2026 ${pct}%`);
      if (!this.bar.hidden) this.st.textContent = msg; // another voice, the player open
      if (msg !== this.lastMsg && (j.status === "queued" || pct - (this.lastPct || 0) >= 20 || pct === 100)) {
        this.lastPct = pct;
        this.say(msg);
      }
      this.lastMsg = msg;
    }

    load(meta) {
      this.meta = meta;
      this.timings = meta.timings || [];
      this.ranges = this.x ? this.timings.map((t) => rangeFor(this.x, t)) : [];
      this.posKey = `listen:pos:${meta.id}`;
      this.heard = null;
      this.state = "ready";
      this.btn.removeAttribute("aria-busy");
      this.btn.style.removeProperty("--p");
      this.setTitle(meta.title || this.articleTitle(this.target()) || "Listen");
      this.tot.textContent = clock(meta.duration_s);
      this.seek.max = String(meta.duration_s || 0);
      this.dl.href = saveUrl(meta.audio_url);
      this.chapters();
      this.dl.hidden = false;
      const pos = +store.get(this.posKey) || 0;
      this.resume = pos > 3 && pos < (meta.duration_s || 0) - 3 ? pos : 0;
      const s = this.resumeSentence != null && this.timings[Math.min(this.resumeSentence, this.timings.length - 1)];
      if (s) this.resume = s.start_ms / 1000; // the sentence the other voice was at
      this.resumeSentence = null;
      this.madeBar.hidden = true;
      this.a.src = abs(meta.audio_url);
      this.a.playbackRate = this.a.defaultPlaybackRate = this.rateValue;
      if (this.resume) this.a.currentTime = this.resume;
      this.play();
    }

    /* Chapters: each heading (h2–h6) of the article read, as a mark on the seek
     * bar at its first sentence; a button that plays from there, named by the
     * heading. Only for an article read from the page (its headings are known). */
    chapters() {
      const x = this.x,
        ts = this.timings || [],
        total = (this.meta && this.meta.duration_s) || 0;
      const marks = [];
      const seen = new Set();
      for (const p of (x && total && x.paras) || []) {
        if (!/^H[2-6]$/.test(p.el.tagName) || seen.has(p.el)) continue;
        seen.add(p.el);
        const s = ts.find((q) => q && x.cp[q.char_end] > p.start);
        const name = p.el.textContent.replace(/\s+/g, " ").trim();
        if (!s || !name) continue;
        const at = s.start_ms / 1000;
        const mark = h("button", {
          type: "button",
          "aria-label": `Chapter: ${name}, at ${spoken(at)}`,
          title: `${name} (${clock(at)})`,
          click: () => {
            this.jump(at);
            this.play();
            this.say(`Playing from ${name}`);
          },
        });
        mark.style.left = `${Math.min(100, (100 * at) / total)}%`;
        marks.push(mark);
      }
      this.chap.replaceChildren(...marks);
    }

    hook(t) {
      if (this.hooked === t) return;
      this.hooked = t;
      globalStyle();
      t.addEventListener("click", (e) => {
        if (this.state !== "ready" || e.defaultPrevented || e.button || e.metaKey || e.ctrlKey || e.shiftKey) return;
        if (e.target.closest("a,button,input,select,textarea,label,summary,[data-listen-skip],listen-button")) return;
        const sel = getSelection();
        if (sel && !sel.isCollapsed) return;
        const word = this.wordFromPoint(e.clientX, e.clientY);
        if (word) {
          this.jump(word.start_ms / 1000);
          return this.play();
        }
        for (let el = e.target; el && el !== t.parentElement; el = el.parentElement) {
          const p = this.x.paras.find((q) => q.el === el);
          if (!p) continue;
          const i = this.timings.findIndex((s) => this.x.cp[s.char_end] > p.start);
          if (i < 0) return;
          this.jump(this.timings[i].start_ms / 1000);
          this.play();
          this.say(`Playing from paragraph ${this.timings[i].paragraph + 1}`);
          return;
        }
      });
    }

    wireAudio() {
      const a = this.a;
      let saved = 0;
      const tick = () => {
        this.paint();
        if (!a.paused) this.raf = requestAnimationFrame(tick);
      };
      a.addEventListener("loadedmetadata", () => {
        if (this.resume && Math.abs(a.currentTime - this.resume) > 1) a.currentTime = this.resume;
        if (this.resume) this.say(`Resuming at ${spoken(this.resume)}`);
        this.resume = 0;
        if (this.feed) return this.extent();
        this.seek.max = String(a.duration || this.seek.max);
        this.tot.textContent = clock(a.duration);
      });
      a.addEventListener("durationchange", () => this.extent());
      a.addEventListener("play", () => {
        this.playBtn.replaceChildren(icon("pause"));
        this.playBtn.setAttribute("aria-label", "Pause");
        this.playBtn.title = "Pause";
        this.setMain("pause", "Pause");
        this.played();
        this.session();
        this.say("Playing");
        cancelAnimationFrame(this.raf);
        tick();
      });
      a.addEventListener("pause", () => {
        this.playBtn.replaceChildren(icon("play"));
        this.playBtn.setAttribute("aria-label", "Play");
        this.playBtn.title = "Play";
        // The error's label and message stand, as does the preparing of another voice.
        if (this.state === "error" || this.state === "preparing") return;
        if (!this.bar.hidden) this.setMain("play", "Resume");
        this.paint();
        this.savePos();
        if (!a.ended) this.say("Paused");
      });
      a.addEventListener("ended", () => {
        this.reached(100);
        this.heard = null; // playing it again is another play
        store.del(this.posKey);
        this.say("Finished");
        this.setMain("play", "Play again");
      });
      a.addEventListener("timeupdate", () => {
        this.paint();
        const d = this.meta && this.meta.duration_s;
        if (this.heard && d > 0) MILESTONES.forEach((m) => m < 100 && a.currentTime >= (d * m) / 100 && this.reached(m));
        const ms = navigator.mediaSession;
        if (ms && ms.setPositionState && a.duration) {
          try {
            ms.setPositionState({ duration: a.duration, playbackRate: a.playbackRate, position: Math.min(a.currentTime, a.duration) });
          } catch {}
        }
        if (Math.abs(a.currentTime - saved) >= 1) {
          saved = a.currentTime;
          this.savePos();
        }
      });
      a.addEventListener("seeked", () => this.paint());
      a.addEventListener("waiting", () => (this.st.textContent = "Loading\u2026"));
      a.addEventListener("playing", () => (this.st.textContent = ""));
      a.addEventListener("volumechange", () => {
        const m = a.muted || !a.volume;
        this.muteBtn.replaceChildren(icon(m ? "mute" : "vol"));
        this.muteBtn.setAttribute("aria-label", m ? "Unmute" : "Mute");
        this.muteBtn.title = m ? "Unmute" : "Mute";
        this.vol.value = String(a.muted ? 0 : a.volume);
        store.set("listen:vol", a.volume);
      });
      a.addEventListener("error", () => {
        const src = a.getAttribute("src");
        if (!src || (src.startsWith("blob:") && !this.feed)) return; // a refused media source
        this.say("Error: the audio could not be played");
        this.st.textContent = "Playback error";
      });
    }

    report(type, more) {
      if (this.events && this.meta) beacon(this.events, { key: this.dataset.key, id: this.meta.id, type, ...more });
    }

    // A play starts (not a resume after a pause): milestones already behind it are not its.
    played() {
      if (this.heard) return;
      const d = (this.meta && this.meta.duration_s) || 0;
      this.heard = new Set(MILESTONES.filter((m) => d > 0 && this.a.currentTime >= (d * m) / 100));
      this.report("play");
    }

    reached(pct) {
      if (!this.heard || this.heard.has(pct)) return;
      this.heard.add(pct);
      this.report("progress", { pct });
    }

    savePos() {
      if (this.posKey && this.a.currentTime > 0 && !this.a.ended) store.set(this.posKey, this.a.currentTime.toFixed(1));
    }

    paint() {
      const t = this.a.currentTime;
      this.el.textContent = clock(t);
      if (this.shadowRoot.activeElement !== this.seek) this.seek.value = String(t);
      this.seek.setAttribute("aria-valuetext", `${clock(t)} of ${clock(+this.seek.max)}`);
      const i = this.at(t);
      if (i !== this.cur) {
        this.cur = i;
        this.mark();
      }
      const w = wordAt(this.timings && this.timings[i], t * 1000);
      if (w !== this.curWord) {
        this.curWord = w;
        this.markWord(w);
      }
    }

    at(t) {
      const ms = t * 1000,
        ts = this.timings || [];
      let lo = 0,
        hi = ts.length - 1,
        r = -1;
      while (lo <= hi) {
        const m = (lo + hi) >> 1;
        if (ts[m].start_ms <= ms) {
          r = m;
          lo = m + 1;
        } else hi = m - 1;
      }
      return r;
    }

    mark() {
      const r = this.ranges && this.ranges[this.cur];
      if (!r || this.bar.hidden || !window.CSS || !CSS.highlights) return;
      CSS.highlights.set("listen-sentence", new Highlight(r));
      if (!this.a.paused) this.reveal();
    }

    // The word being said, inside the sentence's highlight (when the timings have words).
    markWord(w) {
      if (!window.CSS || !CSS.highlights) return;
      const r = w && this.x && !this.bar.hidden ? rangeFor(this.x, w) : null;
      if (!r) return CSS.highlights.delete("listen-word");
      const hl = new Highlight(r);
      hl.priority = 1; // painted over the sentence's
      CSS.highlights.set("listen-word", hl);
    }

    // The word (with its timing) under a point of the page, from the timings' words.
    wordFromPoint(px, py) {
      const x = this.x;
      const r = !document.caretPositionFromPoint && document.caretRangeFromPoint && document.caretRangeFromPoint(px, py);
      const p = r ? { offsetNode: r.startContainer, offset: r.startOffset } : document.caretPositionFromPoint && document.caretPositionFromPoint(px, py);
      const node = p && p.offsetNode;
      if (!x || !node || node.nodeType !== 3) return null;
      let u = -1; // the UTF-16 unit of the text at the caret, or the last before it
      for (let k = 0; k < x.nodes.length; k++) if (x.nodes[k] === node && x.offs[k] <= p.offset) u = k;
      if (u < 0) return null;
      let c = 0; // its code point
      while (c + 1 < x.cp.length && x.cp[c + 1] <= u) c++;
      const s = this.timings.find((q) => q && q.char_start <= c && c < q.char_end);
      return (s && s.words && s.words.find((q) => q.char_start <= c && c < q.char_end)) || null;
    }

    clearMark() {
      if (window.CSS && CSS.highlights) CSS.highlights.delete("listen-sentence");
      this.markWord(null);
      this.cur = -1;
      this.curWord = null;
    }

    reveal() {
      const r = this.ranges && this.ranges[this.cur];
      if (!r || this.follow.getAttribute("aria-pressed") !== "true") return;
      const box = r.getBoundingClientRect();
      const bottom = innerHeight - (this.bar.getBoundingClientRect().height || 0) - 24;
      if (box.top < 16 || box.bottom > bottom)
        scrollBy({ top: box.top - innerHeight / 3, behavior: reduced() ? "auto" : "smooth" });
    }

    jump(t) {
      if (!this.meta) return;
      const f = this.feed;
      if (f && (t < f.kept() || t > f.made())) {
        // Finished, but not all in the media source: the file from there on.
        if (this.meta.duration_s > 0) return this.toFile(t);
        if (t > f.made()) this.say(`Only the first ${spoken(f.made())} is ready so far`);
        t = Math.max(f.kept(), Math.min(t, f.made() - 0.25));
      }
      const d = this.a.duration || this.meta.duration_s || 0;
      this.a.currentTime = Math.max(0, Math.min(t, d ? d - 0.05 : t));
      this.paint();
    }

    skip(s) {
      this.jump(this.a.currentTime + s);
      this.say(`${s < 0 ? "Back" : "Forward"} ${Math.abs(s)} seconds, ${clock(this.a.currentTime)}`);
    }

    sentence(d) {
      const ts = this.timings;
      if (!ts || !ts.length) return;
      let i = this.at(this.a.currentTime);
      // "Previous" first goes back to the start of the current sentence.
      if (d < 0 && i >= 0 && this.a.currentTime - ts[i].start_ms / 1000 > 1.5) d = 0;
      i = Math.max(0, Math.min(ts.length - 1, i + d));
      this.jump(ts[i].start_ms / 1000 + 0.001);
      this.say(`Sentence ${i + 1} of ${ts.length}`);
    }

    setRate(r, announce) {
      this.rateValue = r;
      this.a.playbackRate = this.a.defaultPlaybackRate = r;
      this.rate.textContent = `${r}\u00d7`;
      this.rate.setAttribute("aria-label", `Playback speed ${r}\u00d7, press to change`);
      this.rate.title = "Playback speed";
      if (announce) {
        this.report("speed");
        store.set("listen:rate", r);
        this.say(`Speed ${r}\u00d7`);
      }
    }

    /* The voice to ask for, and the picker: of the voices the site offers, those
     * the service has (in the site's order). The reader's last choice on this
     * site (listen:voice) if it is one of them, else data-voice if it names one,
     * else the first. With fewer than two, no picker. */
    async offerVoices() {
      let list = [];
      if (this.offered.length > 1) {
        try {
          list = (await getJSON(abs("api/v1/voices"), undefined, this.onBusy)).voices || [];
        } catch {} // no picker; the service says what is wrong with the voice asked for
      }
      const found = [];
      for (const id of this.offered) {
        const v = findVoice(list, id);
        if (v && !found.includes(v)) found.push(v);
      }
      const mine = store.get("listen:voice"),
        named = this.dataset.voice;
      const v =
        found.find((q) => q.id === mine) || (named && findVoice(found, named)) || found[0];
      const fallback = named && this.offered.some((id) => id.toLowerCase() === named.trim().toLowerCase());
      this.voice = v ? v.id : fallback ? named : this.offered[0];
      if (found.length < 2) return;
      this.voicePick.replaceChildren(...found.map((q) => h("option", { value: q.id, text: voiceLabel(q) })));
      this.voicePick.value = this.voice;
      this.voicePick.hidden = false;
    }

    // The reader chose a voice: remembered for this site; what plays is asked
    // for again in it, from the sentence being said (after a short pause, as
    // arrow keys on the picker step through the voices one change at a time).
    pickVoice(id) {
      const opt = this.voicePick.selectedOptions[0];
      store.set("listen:voice", id);
      this.say(`Voice: ${opt ? opt.textContent : id}`);
      clearTimeout(this.voiceTimer);
      this.voiceTimer = setTimeout(() => {
        if (id === this.voice || this.voicePick.value !== id) return;
        this.voice = id;
        if (!this.meta || this.state === "idle") return; // the first press uses it
        const i = this.at(this.a.currentTime);
        this.savePos();
        this.resumeSentence = Math.max(0, this.resumeSentence != null ? this.resumeSentence : i);
        this.a.pause();
        if (this.feed) this.feed.close();
        this.feed = null;
        this.start();
      }, 600);
    }

    key(e) {
      if (e.ctrlKey || e.metaKey || e.altKey) return;
      const el = e.target,
        k = e.key,
        range = el.type === "range",
        clickable = el.tagName === "BUTTON" || el.tagName === "A";
      if (el.tagName === "SELECT") return; // its keys choose a voice
      let f = null;
      if (k === "k" || (k === " " && !clickable)) f = () => this.press();
      else if (!this.meta) return;
      else if (k === "j" || (k === "ArrowLeft" && !e.shiftKey && !range)) f = () => this.skip(-10);
      else if (k === "l" || (k === "ArrowRight" && !e.shiftKey && !range)) f = () => this.skip(10);
      else if (k === "," || (k === "ArrowLeft" && e.shiftKey)) f = () => this.sentence(-1);
      else if (k === "." || (k === "ArrowRight" && e.shiftKey)) f = () => this.sentence(1);
      else if (k === "m") f = () => (this.a.muted = !this.a.muted);
      if (f) {
        e.preventDefault();
        f();
      }
    }

    session() {
      const ms = navigator.mediaSession;
      if (!ms) return;
      try {
        ms.metadata = new MediaMetadata({ title: this.ttl.textContent, artist: location.hostname, album: "Listen" });
      } catch {}
      const acts = {
        play: () => this.play(),
        pause: () => this.a.pause(),
        seekbackward: (d) => this.skip(-(d.seekOffset || 10)),
        seekforward: (d) => this.skip(d.seekOffset || 10),
        previoustrack: () => this.sentence(-1),
        nexttrack: () => this.sentence(1),
        seekto: (d) => this.jump(d.seekTime),
      };
      for (const [k, fn] of Object.entries(acts)) {
        try {
          ms.setActionHandler(k, fn);
        } catch {}
      }
    }
  }
  customElements.define("listen-button", ListenButton);
})();
