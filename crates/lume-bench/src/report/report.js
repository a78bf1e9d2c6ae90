// The report's behaviour: sorting the leaderboard and the generations' drill-down. Its state
// lives in the URL's fragment (#sort=final_score:desc&q=…&split=…&task=…&kind=…), so a
// view can be linked and a headless browser can be pointed at one.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("lume-data").textContent);
  const PAGE = 25;
  const KIND = { sc: "regurgitation", qa: "knowledge" };
  const SCORE = { sc: "ROUGE-L recall", qa: "exact match" };
  const state = { sort: "", q: "", split: "", task: "", kind: "" };
  let shown = PAGE;

  function readHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    for (const key of Object.keys(state)) state[key] = params.get(key) || "";
  }

  function writeHash() {
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(state)) if (value) params.set(key, value);
    try {
      history.replaceState(null, "", "#" + params.toString());
    } catch (e) {
      // Some browsers refuse history on file:// pages; the view still works.
    }
  }

  // --- Leaderboard ---------------------------------------------------------------------
  const tables = Array.from(document.querySelectorAll("table.board"));
  const pushed = tables.length
    ? Array.from(tables[0].tBodies[0].rows, (tr) => tr.dataset.model)
    : [];

  function sortBy(key, dir) {
    const values = new Map();
    for (const cell of document.querySelectorAll('table.board [data-key="' + CSS.escape(key) + '"]')) {
      if (cell.tagName === "BUTTON") continue;
      const model = cell.parentElement.dataset.model;
      const raw = cell.dataset.value;
      values.set(model, key === "model" ? raw : raw === "" ? NaN : Number(raw));
    }
    const sign = dir === "asc" ? 1 : -1;
    const order = pushed.slice().sort((a, b) => {
      const x = values.get(a), y = values.get(b);
      const missX = x === undefined || Number.isNaN(x), missY = y === undefined || Number.isNaN(y);
      if (missX || missY) return missX - missY; // rows without a value last, either way
      if (key === "model") return sign * String(x).localeCompare(String(y));
      return sign * (x - y) || pushed.indexOf(a) - pushed.indexOf(b);
    });
    for (const table of tables) {
      const body = table.tBodies[0];
      const byModel = new Map(Array.from(body.rows, (tr) => [tr.dataset.model, tr]));
      for (const model of order) if (byModel.has(model)) body.appendChild(byModel.get(model));
      for (const th of table.tHead.rows[0].cells) {
        const button = th.querySelector("button");
        const on = button && button.dataset.key === key;
        th.setAttribute("aria-sort", on ? (dir === "asc" ? "ascending" : "descending") : "none");
      }
    }
  }

  for (const button of document.querySelectorAll("table.board th button")) {
    button.addEventListener("click", () => {
      const key = button.dataset.key;
      const [current, dir] = state.sort.split(":");
      const first = key === "model" ? "asc" : "desc";
      const next = current === key ? (dir === "asc" ? "desc" : "asc") : first;
      state.sort = key + ":" + next;
      sortBy(key, next);
      writeHash();
    });
  }

  // --- Generations ---------------------------------------------------------------------
  const controls = ["q", "split", "task", "kind"].map((id) => document.getElementById(id));
  const cards = document.getElementById("cards");
  const count = document.getElementById("count");
  const more = document.getElementById("more");

  function element(tag, text, attrs) {
    const node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, value);
    return node;
  }

  function matches(row, q) {
    if (state.split && row.split !== state.split) return false;
    if (state.task && row.task !== state.task) return false;
    if (state.kind && row.kind !== state.kind) return false;
    if (!q) return true;
    return row.id.toLowerCase().includes(q) ||
      row.prompt.toLowerCase().includes(q) ||
      row.expected.toLowerCase().includes(q);
  }

  function card(row) {
    const article = element("article", undefined, { class: "row", "data-id": row.id });
    article.appendChild(element("h3", row.id + " · " + row.split + " · " + row.task + " · " + KIND[row.kind]));
    const facts = element("dl");
    facts.append(element("dt", "Prompt"), element("dd", row.prompt));
    facts.append(element("dt", "Expected"), element("dd", row.expected));
    article.appendChild(facts);
    const table = element("table");
    const head = table.createTHead().insertRow();
    for (const title of ["model", "generation", SCORE[row.kind]]) head.appendChild(element("th", title, { scope: "col" }));
    const body = table.createTBody();
    for (const g of row.generations) {
      const model = data.models[g.model];
      const tr = body.insertRow();
      tr.dataset.model = model;
      tr.appendChild(element("th", model, { scope: "row" }));
      const gen = element("td", undefined, { class: "gen" });
      g.pieces.forEach((piece, i) => gen.appendChild(i % 2 ? element("mark", piece) : document.createTextNode(piece)));
      tr.appendChild(gen);
      tr.appendChild(element("td", g.score.toFixed(3)));
    }
    article.appendChild(table);
    return article;
  }

  function render() {
    const q = state.q.trim().toLowerCase();
    const found = data.rows.filter((row) => matches(row, q));
    // An id typed in full comes first.
    found.sort((a, b) => (b.id.toLowerCase() === q) - (a.id.toLowerCase() === q));
    cards.replaceChildren(...found.slice(0, shown).map(card));
    count.textContent = found.length + " of " + data.rows.length + " rows" +
      (found.length > shown ? ", showing the first " + shown : "");
    more.hidden = found.length <= shown;
  }

  for (const control of controls) {
    control.addEventListener("input", () => {
      state[control.id] = control.value;
      shown = PAGE;
      render();
      writeHash();
    });
  }
  more.addEventListener("click", () => {
    shown += PAGE;
    render();
  });

  readHash();
  for (const control of controls) control.value = state[control.id];
  if (state.sort) {
    const [key, dir] = state.sort.split(":");
    sortBy(key, dir === "asc" ? "asc" : "desc");
  }
  render();
})();
