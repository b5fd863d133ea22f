"use strict";
// imret search page: upload / drop / paste an image, or open /?id=<gallery id>; results from /api/v1.
(() => {
  const $ = (id) => document.getElementById(id);
  const state = { file: null, fileUrl: null, id: null, page: 0, maxUploadMb: 20, seq: 0, matches: [], current: null };

  const topk = () => parseInt($("topk").value, 10);

  function setBusy(busy, text) {
    $("results-panel").setAttribute("aria-busy", busy ? "true" : "false");
    if (text !== undefined) $("status").textContent = text;
    $("prev").disabled = busy || state.page === 0;
  }

  function showError(message) {
    const box = $("error");
    box.textContent = message;
    box.hidden = !message;
  }

  async function fetchJson(url, options) {
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      throw new Error("the server cannot be reached (" + err.message + ")");
    }
    let body = null;
    try { body = await response.json(); } catch (err) { body = null; }
    if (!response.ok) {
      const reason = body && body.error ? body.error : "the server answered " + response.status;
      const error = new Error(reason);
      error.status = response.status;
      throw error;
    }
    return body;
  }

  async function loadInfo() {
    try {
      const info = await fetchJson("/api/v1/info");
      state.maxUploadMb = info.limits.max_upload_mb;
      $("index-info").textContent = info.count + " images in " + info.name + " · model " + info.model;
      return true;
    } catch (err) {
      $("index-info").textContent = err.status === 503 ? "The server is loading its model…" : err.message;
      if (err.status === 503) setTimeout(loadInfo, 2000);
      return false;
    }
  }

  function showQuery(src, caption, alt) {
    $("query-figure").hidden = false;
    $("query-image").src = src;
    $("query-image").alt = alt;
    $("query-caption").textContent = caption;
  }

  function pageUrl() {
    if (state.id === null) return "/";
    const params = new URLSearchParams({ id: state.id });
    if (state.page > 0) params.set("page", String(state.page + 1));
    if (topk() !== 12) params.set("k", String(topk()));
    return "/?" + params.toString();
  }

  function render(data) {
    state.matches = data.matches;
    const list = $("results");
    list.replaceChildren();
    for (const match of data.matches) {
      const item = document.createElement("li");
      const card = document.createElement("button");
      card.type = "button";
      card.className = "card";
      const name = match.path || match.id;
      card.setAttribute("aria-label", "Result " + match.rank + ": " + name + ", score " + match.score.toFixed(3));
      const img = document.createElement("img");
      img.loading = "lazy";
      img.alt = "Result " + match.rank + ": " + name;
      if (match.thumb_url) img.src = match.thumb_url;
      const meta = document.createElement("span");
      meta.className = "meta";
      meta.innerHTML = '<span class="rank"></span><span class="score"></span><span class="name"></span>';
      meta.querySelector(".rank").textContent = "#" + match.rank;
      meta.querySelector(".score").textContent = match.score.toFixed(3);
      meta.querySelector(".name").textContent = name.split("/").pop();
      meta.querySelector(".name").title = name;
      card.append(img, meta);
      card.addEventListener("click", () => openViewer(match));
      item.append(card);
      list.append(item);
    }
    const first = data.offset + 1;
    const last = data.offset + data.matches.length;
    $("status").textContent = data.matches.length
      ? "Matches " + first + "–" + last + " of " + data.count + " images"
      : "No matches: the index is empty.";
    const pages = Math.max(1, Math.ceil(data.count / data.topk));
    $("pager").hidden = pages <= 1;
    $("page-label").textContent = "Page " + (state.page + 1) + " of " + pages;
    $("prev").disabled = state.page === 0;
    $("next").disabled = !data.has_more;
  }

  async function runSearch(request, label) {
    const seq = ++state.seq;
    showError("");
    setBusy(true, "Searching with " + label + "…");
    try {
      const data = await request();
      if (seq !== state.seq) return;
      render(data);
      if (data.query.kind === "id") {
        showQuery(data.query.thumb_url || data.query.image_url || "", "Gallery image " + data.query.name,
                  "Query: gallery image " + data.query.name);
      }
    } catch (err) {
      if (seq !== state.seq) return;
      $("results").replaceChildren();
      $("pager").hidden = true;
      $("status").textContent = "No results.";
      showError(err.message.startsWith(label) ? err.message : label + ": " + err.message);
    } finally {
      if (seq === state.seq) setBusy(false);
    }
  }

  function searchFile() {
    const file = state.file;
    const form = new FormData();
    form.append("image", file, file.name);
    form.append("topk", String(topk()));
    form.append("offset", String(state.page * topk()));
    return runSearch(() => fetchJson("/api/v1/search", { method: "POST", body: form }), file.name);
  }

  function searchId() {
    const params = new URLSearchParams({ id: state.id, topk: String(topk()), offset: String(state.page * topk()) });
    return runSearch(() => fetchJson("/api/v1/search/by-id?" + params.toString()), state.id);
  }

  function search() { return state.id !== null ? searchId() : state.file ? searchFile() : Promise.resolve(); }

  function useFile(file) {
    if (!file) return;
    const name = file.name || "pasted image";
    if (file.size > state.maxUploadMb * 1048576) {
      showError(name + ": the file is " + (file.size / 1048576).toFixed(1) + " MB; the server accepts at most "
                + state.maxUploadMb + " MB");
      return;
    }
    if (state.fileUrl) URL.revokeObjectURL(state.fileUrl);
    state.file = file.name ? file : new File([file], name, { type: file.type });
    state.fileUrl = URL.createObjectURL(file);
    state.id = null;
    state.page = 0;
    if (location.search) history.pushState({}, "", "/");
    showQuery(state.fileUrl, "Your image: " + name, "Query: your image " + name);
    search();
  }

  function useId(id, push) {
    state.id = id;
    state.file = null;
    state.page = 0;
    if (push) history.pushState({}, "", pageUrl());
    search();
  }

  function openViewer(match) {
    state.current = match;
    const name = match.path || match.id;
    $("viewer-title").textContent = name;
    $("viewer-image").src = match.image_url || match.thumb_url || "";
    $("viewer-image").alt = "Gallery image " + name;
    $("viewer-meta").textContent = "Rank " + match.rank + " · score " + match.score.toFixed(4)
      + (match.label ? " · " + match.label : "");
    $("viewer-open").href = match.image_url || "#";
    $("viewer-open").hidden = !match.image_url;
    $("viewer").showModal();
  }

  function readUrl() {
    const params = new URLSearchParams(location.search);
    const k = params.get("k");
    if (k && [...$("topk").options].some((option) => option.value === k)) $("topk").value = k;
    const id = params.get("id");
    if (id) {
      state.id = id;
      state.file = null;
      state.page = Math.max(0, (parseInt(params.get("page") || "1", 10) || 1) - 1);
      search();
    }
  }

  function bind() {
    $("file-input").addEventListener("change", (event) => {
      useFile(event.target.files[0]);
      event.target.value = "";
    });
    const zone = $("drop-zone");
    for (const kind of ["dragenter", "dragover"]) {
      document.addEventListener(kind, (event) => { event.preventDefault(); zone.classList.add("dragging"); });
    }
    for (const kind of ["dragleave", "dragend"]) {
      document.addEventListener(kind, () => zone.classList.remove("dragging"));
    }
    document.addEventListener("drop", (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
      const files = event.dataTransfer ? event.dataTransfer.files : null;
      if (files && files.length) useFile(files[0]);
    });
    document.addEventListener("paste", (event) => {
      const items = event.clipboardData ? [...event.clipboardData.files] : [];
      if (items.length) {
        event.preventDefault();
        useFile(items[0]);
      }
    });
    $("topk").addEventListener("change", () => {
      state.page = 0;
      if (state.id !== null) history.replaceState({}, "", pageUrl());
      search();
    });
    $("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); page(); });
    $("next").addEventListener("click", () => { state.page += 1; page(); });
    $("viewer-close").addEventListener("click", () => $("viewer").close());
    $("viewer-search").addEventListener("click", () => {
      $("viewer").close();
      if (state.current) useId(state.current.id, true);
    });
    window.addEventListener("popstate", () => {
      if (new URLSearchParams(location.search).get("id")) {
        readUrl();
      } else if (state.id !== null) {  // back to the start page
        state.id = null;
        state.seq += 1;
        $("results").replaceChildren();
        $("pager").hidden = true;
        $("query-figure").hidden = true;
        showError("");
        setBusy(false, "Choose an image to find similar ones.");
      }
    });
  }

  function page() {
    if (state.id !== null) history.replaceState({}, "", pageUrl());
    search();
  }

  bind();
  loadInfo().then(() => readUrl());
})();
