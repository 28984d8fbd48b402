// The search page without reloads. One search = one request and one history entry; Back and Forward put
// the page (query, options and results) back as it was for that URL. Without JavaScript the form is a
// plain GET form and every state is a URL just the same.
(() => {
  const form = document.getElementById("search");
  if (!form) return;
  let pending = null;
  // The search on screen, without the open result: Back and Forward between a result's preview and its
  // grid change only the preview.
  const searchKey = (url) => { const u = new URL(url, location.href); u.searchParams.delete("open"); return u.pathname + u.search; };
  let shownSearch = searchKey(location.href);
  const narrow = window.matchMedia("(max-width: 480px)");

  // A message in place of where's content, or above it (keep: the results stay under it).
  function say(where, text, { keep = false } = {}) {
    const message = document.createElement("p");
    message.className = "error";
    message.setAttribute("role", "alert");
    message.textContent = text;
    if (!keep) return where.replaceChildren(message);
    where.querySelectorAll(":scope > .error").forEach((old) => old.remove());
    where.prepend(message);
  }

  // The form's state as the page's URL: empty fields left out, paging starts again.
  function urlOf() {
    const params = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (value !== "" && name !== "offset") params.append(name, value);
    }
    return "/index?" + params.toString();
  }

  // On a phone the filters fold into their button, so results start on the first screen.
  function foldFilters() {
    const filters = form.querySelector("details.filters");
    if (filters && narrow.matches) filters.open = false;
  }

  // Swap in the parts of the page at url that change with a search (the fields too: which options
  // apply depends on the mode); keep the rest, and the focus where it was.
  // init: a search by image, POSTed with the file; the server keeps the image and redirects to the
  // search's own URL (with image_key), which becomes a history entry like any search.
  async function show(url, init) {
    if (pending) pending.abort();
    pending = new AbortController();
    shownSearch = searchKey(url);
    document.body.classList.add("searching");
    try {
      const response = await fetch(url, { signal: pending.signal, ...init });
      const landed = new URL(response.url);
      if (init && response.redirected && landed.searchParams.has("image_key")) {
        shownSearch = searchKey(landed.href);
        history.pushState({ search: true }, "", landed.pathname + landed.search);
      }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      if (init && !response.ok) {  // the image could not be used: say why above the search still shown
        shownSearch = searchKey(location.href);
        const error = page.querySelector("#results .error");
        const results = document.getElementById("results");
        results.querySelectorAll(":scope > .error").forEach((old) => old.remove());
        if (error) results.prepend(error);
        return;
      }
      const focused = focusKey(document.activeElement);
      const filtersOpen = form.querySelector("details.filters")?.open;
      for (const id of ["search-form-body", "results", "stats"]) {
        const fresh = page.getElementById(id), here = document.getElementById(id);
        if (fresh && here) here.replaceWith(fresh);
      }
      const filters = form.querySelector("details.filters");
      if (filters && filtersOpen !== undefined) filters.open = filtersOpen;
      document.title = page.title;
      const refocus = focused && document.querySelector(focused);
      if (refocus) refocus.focus();
      if (window.htmx) htmx.process(document.getElementById("results"));
    } catch (error) {
      if (error.name === "AbortError") return;
      say(document.getElementById("results"),
        "The server did not answer. Check that adsearch is still running, then search again.");
    } finally {
      document.body.classList.remove("searching");
    }
  }

  // A selector that finds the focused control again in the fresh page: by id, by name (the check boxes),
  // or the Search button.
  function focusKey(element) {
    if (!element || !form.contains(element)) return null;
    if (element.id) return "#" + CSS.escape(element.id);
    if (element.name) return `#search [name="${CSS.escape(element.name)}"]`;
    return element.matches("button[type=submit]") ? "#search button[type=submit]" : null;
  }

  function search() {
    const url = urlOf();
    if (url === location.pathname + location.search) return; // the same search: no second request or entry
    closePreview({ back: false });
    history.pushState({ search: true }, "", url);
    show(url);
  }

  form.addEventListener("submit", (event) => { event.preventDefault(); search(); });
  // A choice in a list or a box ticked searches at once; text fields search on Enter.
  form.addEventListener("change", (event) => {
    if (event.target.matches("select, input[type=checkbox]")) search();
  });
  window.addEventListener("popstate", async () => {
    if (location.pathname !== "/index") return;
    if (searchKey(location.href) !== shownSearch) await show(location.pathname + location.search);
    const open = new URLSearchParams(location.search).get("open");
    if (open) preview(open, { push: false }); else closePreview({ back: false });
  });
  history.replaceState({ search: true }, "", location.href);
  foldFilters();

  // The preview panel: a result opens beside the grid (a full-screen sheet on a phone), which keeps its
  // place; ←/→ or a swipe move through the results, Esc closes, and the URL names the open result
  // (open=<path>) so it can be shared. /view/<path> stays the page without JavaScript.
  const panel = document.createElement("aside");
  panel.id = "preview";
  panel.hidden = true;
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Preview of a result");
  document.body.append(panel);
  let openPath = null;
  let openedHere = false;  // the open preview added its own history entry (a click, not a URL or Back)
  const thumbs = () => [...document.querySelectorAll("#results .card a.thumb")];
  const pathOf = (link) => decodeURIComponent(new URL(link.href).pathname.slice("/view/".length));

  async function preview(path, { push }) {
    const link = thumbs().find((a) => pathOf(a) === path);
    const href = link ? link.href : "/view/" + path.split("/").map(encodeURIComponent).join("/");
    openPath = path;
    const response = await fetch(href);
    const page = new DOMParser().parseFromString(await response.text(), "text/html");
    if (openPath !== path) return;  // moved on meanwhile
    panel.replaceChildren();
    const bar = document.createElement("div");
    bar.className = "preview-bar";
    bar.innerHTML = '<button type="button" class="secondary" data-move="-1" aria-label="Previous result">←</button>' +
      '<button type="button" class="secondary" data-move="1" aria-label="Next result">→</button>' +
      '<a class="preview-page">Open its page</a>' +
      '<button type="button" class="secondary" data-close aria-label="Close the preview">×</button>';
    bar.querySelector(".preview-page").href = href;
    panel.append(bar, ...page.querySelector("main").children);
    panel.hidden = false;
    document.body.classList.add("previewing");
    behind(narrow.matches);  // a full-screen sheet on a phone: Tab stays in it
    thumbs().forEach((a) => a.closest(".card").classList.toggle("open", pathOf(a) === path));
    const url = new URL(location.href);
    url.searchParams.set("open", path);
    if (push === "replace") history.replaceState({ search: true, open: path }, "", url);
    else if (push) history.pushState({ search: true, open: path }, "", url);
    if (push !== "replace") openedHere = push === true;
    if (!panel.contains(document.activeElement)) bar.querySelector("[data-close]").focus({ preventScroll: true });
  }

  // The page behind the preview made inert (or not): no focus, no clicks, hidden from screen readers.
  function behind(inert) {
    for (const element of document.body.children) if (element !== panel) element.inert = inert;
  }

  function closePreview({ back }) {
    if (panel.hidden) return;
    panel.hidden = true;
    openPath = null;
    document.body.classList.remove("previewing");
    behind(false);
    const open = document.querySelector("#results .card.open");
    if (open) { open.classList.remove("open"); open.querySelector("a.thumb").focus({ preventScroll: true }); }
    if (back && new URLSearchParams(location.search).has("open")) {
      // Closing undoes the opening: the entry the preview added is left, so Back goes on to what came
      // before rather than opening it again. A preview the URL opened (shared) just drops open= from it.
      const url = new URL(location.href);
      url.searchParams.delete("open");
      if (openedHere) history.back();
      else history.replaceState({ search: true }, "", url);
    }
    openedHere = false;
  }

  function move(step) {
    const links = thumbs();
    const here = links.findIndex((a) => pathOf(a) === openPath);
    const next = links[here + step];
    if (next) { next.scrollIntoView({ block: "nearest" }); preview(pathOf(next), { push: "replace" }); }
  }

  document.addEventListener("click", (event) => {
    const link = event.target.closest("#results .card a.thumb");
    if (link && !event.ctrlKey && !event.metaKey && !event.shiftKey && event.button === 0) {
      event.preventDefault();
      preview(pathOf(link), { push: openPath ? "replace" : true });
    }
    const control = event.target.closest("#preview [data-move], #preview [data-close]");
    if (control) control.hasAttribute("data-close") ? closePreview({ back: true }) : move(Number(control.dataset.move));
  });
  document.addEventListener("keydown", (event) => {
    if (!panel.hidden && event.key === "Tab" && narrow.matches) {
      // The sheet's controls, round and round: past its last one (the page behind is inert, so the browser
      // would leave the page), back to its first, and the other way with Shift.
      const back = event.shiftKey;
      setTimeout(() => {
        if (panel.hidden || panel.contains(document.activeElement)) return;
        const stops = [...panel.querySelectorAll("a[href], button, summary")].filter((e) => e.getClientRects().length);
        (back ? stops[stops.length - 1] : stops[0])?.focus();
      });
    }
    if (panel.hidden || event.target.matches("input, select, textarea")) return;
    if (event.key === "Escape") closePreview({ back: true });
    else if (event.key === "ArrowRight") move(1);
    else if (event.key === "ArrowLeft") move(-1);
  });
  let touch = null;
  panel.addEventListener("touchstart", (event) => { touch = event.touches[0].clientX; }, { passive: true });
  panel.addEventListener("touchend", (event) => {
    const dx = event.changedTouches[0].clientX - touch;
    if (Math.abs(dx) > 60) move(dx < 0 ? 1 : -1);
  });
  const opened = new URLSearchParams(location.search).get("open");
  if (opened) preview(opened, { push: false });

  // Load more: the next cards in place of the link (without JavaScript the link opens the next page).
  // One page at a time; cards meant for a grid a new search has replaced are dropped.
  let loadingMore = false;
  async function loadMore(link) {
    if (loadingMore) return;
    loadingMore = true;
    link.classList.add("loading");
    const item = link.closest("li");
    try {
      const response = await fetch(link.href, { headers: { "X-Results": "more" } });
      const cards = document.createElement("template");
      cards.innerHTML = await response.text();
      if (!response.ok) throw new Error(`the server answered ${response.status}`);
      const hadFocus = document.activeElement === link;
      const first = cards.content.querySelector("a.thumb");
      if (item.isConnected) item.replaceWith(cards.content);
      if (hadFocus && first) first.focus();  // from the keyboard: on to the first new result
    } catch (error) {
      say(item, `The next results did not load (${error.message}). Check that adsearch is running, then try again.`,
        { keep: true });
    } finally {
      loadingMore = false;
      link.classList.remove("loading");
    }
  }
  document.addEventListener("click", (event) => {
    const link = event.target.closest("#results .more a");
    if (!link || event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    loadMore(link);
  });
  // Infinite scroll: scrolling near the end of the grid loads the next page by itself, as the link
  // would. Only a scroll loads (a wheel or a swipe counts, on a page too short to scroll): a page opened,
  // reloaded or restored by Back shows just what its URL names.
  let scrollQueued = false;
  function loadMoreIfNear() {
    if (scrollQueued) return;
    scrollQueued = true;
    requestAnimationFrame(() => {
      scrollQueued = false;
      const more = document.querySelector("#results .more a");
      if (more && more.getBoundingClientRect().top < innerHeight * 1.5) loadMore(more);
    });
  }
  for (const gesture of ["scroll", "wheel", "touchmove"]) window.addEventListener(gesture, loadMoreIfNear, { passive: true });

  // Search with an image: the Image button chooses one (the search starts when it is chosen), or drop
  // an image anywhere on the page, or paste one. The image form itself stays for use without JavaScript.
  const imageForm = document.getElementById("by-image");
  const imageInput = document.getElementById("image");
  const uploadPanel = document.querySelector("details.upload");
  const filesInput = document.getElementById("files");
  if (imageForm && imageInput) {
    imageForm.classList.add("js-folded");
    // Its controls stay for the Image button and the drop, but out of the Tab order: they are not shown.
    imageForm.querySelectorAll("input, button").forEach((control) => { control.tabIndex = -1; });
    // The Image button is a label (it works without JavaScript too): Enter and Space press it as a button.
    // Listened for on the page, since a search puts a fresh button in place of this one.
    document.addEventListener("keydown", (event) => {
      if (event.target.matches?.(".image-button") && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        imageInput.click();
      }
    });
    imageInput.addEventListener("change", () => { if (imageInput.files.length) imageForm.requestSubmit(); });
    // The image with the search's words and options; it replaces a search still loading (show aborts it),
    // so that one's answer cannot land over the image's results.
    imageForm.addEventListener("submit", (event) => {
      event.preventDefault();
      closePreview({ back: false });
      const params = new URLSearchParams(urlOf().slice("/index?".length));
      params.delete("image_key");  // a new image replaces the one searched with before
      show("/index?" + params.toString(), { method: "POST", body: new FormData(imageForm) });
    });
  }
  const images = (list) => [...(list || [])].filter((file) => file.type.startsWith("image/"));
  function put(input, files) {
    const transfer = new DataTransfer();
    files.forEach((file) => transfer.items.add(file));
    input.files = transfer.files;
  }
  const onUploadPanel = (target) => uploadPanel && uploadPanel.contains(target);
  document.addEventListener("dragover", (event) => {
    if ([...event.dataTransfer.types].includes("Files")) {
      event.preventDefault();
      // Without the image model a drop outside "Add images" cannot search: outline only the panel then.
      const target = onUploadPanel(event.target) || !imageForm ? uploadPanel : document.body;
      if (target) target.classList.add("drop-target");
    }
  });
  document.addEventListener("dragleave", (event) => {
    if (!event.relatedTarget) document.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
  });
  const NO_IMAGE = "That is not an image file: drop or paste a JPEG, PNG, GIF, WebP or BMP.";
  function noModel(files) {  // words only: no search by image; say so, offer to add them instead
    uploadPanel.open = true;
    put(filesInput, files);
    say(document.getElementById("upload-results"), "Searching with an image needs the image model (see the " +
      "banner above). To add the image" + (files.length > 1 ? "s" : "") + " to the collection instead, press “Upload and index”.");
    uploadPanel.scrollIntoView({ block: "nearest" });
  }
  document.addEventListener("drop", (event) => {
    const dropped = [...((event.dataTransfer && event.dataTransfer.files) || [])];
    const files = images(dropped);
    document.querySelectorAll(".drop-target").forEach((el) => el.classList.remove("drop-target"));
    if (!dropped.length) return;
    event.preventDefault();  // never the browser's own handling: it would open the file in place of the page
    if (!files.length) {
      if (onUploadPanel(event.target) || !imageForm) {
        uploadPanel.open = true;
        say(document.getElementById("upload-results"), NO_IMAGE);
      }
      else say(document.getElementById("results"), NO_IMAGE, { keep: true });
      return;
    }
    if (uploadPanel && filesInput && uploadPanel.contains(event.target)) {  // dropped on "Add images": add them
      put(filesInput, files);
      filesInput.form.requestSubmit();
    } else if (imageForm && imageInput) {  // anywhere else: search with the first
      put(imageInput, files.slice(0, 1));
      imageForm.requestSubmit();
    } else if (uploadPanel && filesInput) {
      noModel(files);
    }
  });
  // An upload that added images: the grid (the collection newest first, or a search they may match)
  // shows them at once, and the file box is cleared for the next ones.
  document.body.addEventListener("htmx:afterSwap", (event) => {
    if (event.detail.target.id !== "upload-results") return;
    if (filesInput) filesInput.value = "";
    if (event.detail.target.querySelector(".outcome.added")) show(searchKey(location.href));
  });
  document.addEventListener("paste", (event) => {
    const files = images(event.clipboardData && event.clipboardData.files);
    if (!files.length) return;
    event.preventDefault();
    if (!imageForm || !imageInput) { if (uploadPanel && filesInput) noModel(files); return; }
    put(imageInput, files.slice(0, 1));
    imageForm.requestSubmit();
  });
})();
