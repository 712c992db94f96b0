"""A full-screen lightbox for every image on the page: the viewer, the columns, the history and the grid.

Gradio's own Gallery preview shows one gallery's images inside that gallery's box, and gr.Image's
fullscreen button shows one image without its caption; neither goes through a run spread over
several backend columns, nor reaches the history from a phone where the viewer is far above.
So this is a small overlay of our own, driven by clicks the galleries already get (their
`select` still fills the viewer). Its own Reuse seed, Reuse settings and Download act on the image it shows,
and on closing the viewer follows it, so the page's buttons act on the image looked at last.

←/→ (or the buttons, or a swipe) go through the run or the history; Esc, × or a click outside
closes it. Esc here never cancels a run (theme.HEAD's Esc handler sees the lightbox first).
"""

from __future__ import annotations

CSS = """
#lightbox { position: fixed; inset: 0; z-index: 1000; background: rgb(17, 24, 39); display: flex;
  align-items: center; justify-content: center; touch-action: pan-y; }
#lightbox[hidden] { display: none; }
#lightbox figure { margin: 0; max-width: calc(100vw - 112px); display: flex; flex-direction: column;
  align-items: center; gap: 8px; }
#lightbox img { max-width: 100%; max-height: calc(100vh - 180px); object-fit: contain; background: #111827; }
#lightbox figcaption { color: #f9fafb; font-size: 0.95rem; text-align: center; overflow-wrap: anywhere;
  padding: 0 12px; }
#lightbox .lb-count { color: #d1d5db; font-size: 0.8rem; }
#lightbox button { position: absolute; background: rgba(255, 255, 255, 0.14); color: #fff; border: 0;
  border-radius: 999px; width: 48px; height: 48px; font-size: 28px; line-height: 48px; cursor: pointer; }
#lightbox button:hover, #lightbox button:focus-visible { background: rgba(255, 255, 255, 0.3); }
#lightbox .lb-close { top: 12px; right: 12px; }
#lightbox .lb-prev { left: 8px; top: 50%; transform: translateY(-50%); }
#lightbox .lb-next { right: 8px; top: 50%; transform: translateY(-50%); }
#lightbox button[disabled] { opacity: 0.25; cursor: default; }
#lightbox .lb-actions { display: flex; flex-wrap: wrap; gap: 8px; justify-content: center; }
#lightbox .lb-actions[hidden] { display: none; }
#lightbox .lb-actions button, #lightbox .lb-actions a { position: static; width: auto; height: auto; min-height: 44px;
  padding: 10px 16px; border-radius: 8px; font-size: 0.95rem; line-height: 1.2; color: #fff; text-decoration: none;
  background: rgba(255, 255, 255, 0.16); box-sizing: border-box; display: inline-flex; align-items: center; }
#lightbox-act { display: none !important; }
.colgal .thumbnail-item, #history .thumbnail-item, #viewer .image-frame img, #grid-image img { cursor: zoom-in; }
@media (max-width: 640px) {
  #lightbox figure { max-width: 100vw; }
  #lightbox img { max-height: calc(100vh - 240px); }
  #lightbox .lb-prev, #lightbox .lb-next { top: auto; bottom: 16px; transform: none; }
}
"""

JS = """
<script>
(() => {
  let items = [], at = 0, opener = null;
  const box = document.createElement('div');
  box.id = 'lightbox';
  box.hidden = true;
  box.setAttribute('role', 'dialog');
  box.setAttribute('aria-modal', 'true');
  box.setAttribute('aria-label', 'Image, full screen');
  box.innerHTML = '<button class="lb-close" aria-label="Close (Esc)">×</button>' +
    '<button class="lb-prev" aria-label="Previous image (←)">‹</button>' +
    '<figure><img alt=""><figcaption></figcaption><div class="lb-count"></div>' +
    '<div class="lb-actions"><button type="button" data-act="seed">Reuse seed</button>' +
    '<button type="button" data-act="settings">Reuse settings</button>' +
    '<a class="lb-download" download>Download PNG</a></div></figure>' +
    '<button class="lb-next" aria-label="Next image (→)">›</button>';
  const img = box.querySelector('img'), cap = box.querySelector('figcaption'), count = box.querySelector('.lb-count');
  const prev = box.querySelector('.lb-prev'), next = box.querySelector('.lb-next');
  const actions = box.querySelector('.lb-actions'), download = box.querySelector('.lb-download');
  // Tell the server which image is shown and what to do with it (ui/page/handlers/reuse.py on_lightbox).
  const act = (action) => {
    if (!items[at]?.reusable) return;
    window.__fluxLightboxPick = JSON.stringify({src: items[at].src, action});
    document.querySelector('#lightbox-act')?.click();
  };

  const show = (i) => {
    at = Math.max(0, Math.min(items.length - 1, i));
    img.src = items[at].src;
    img.alt = cap.textContent = items[at].caption;
    count.textContent = items.length > 1 ? `${at + 1} of ${items.length}` : '';
    prev.disabled = at === 0;
    next.disabled = at === items.length - 1;
    prev.hidden = next.hidden = items.length < 2;
    actions.hidden = !items[at].reusable;
    download.href = items[at].src;
  };
  const open = (list, i) => {
    if (!list.length) return;
    items = list;
    opener = document.activeElement;
    box.hidden = false;
    show(i);
    box.querySelector('.lb-close').focus();
  };
  const close = () => {
    if (box.hidden) return;
    act('show');  // the viewer (and with it the page's Reuse and Download) follows what was looked at last
    box.hidden = true;
    img.removeAttribute('src');
    opener?.focus?.({preventScroll: true});
  };
  window.__fluxLightboxOpen = () => !box.hidden;

  // One image of a gallery: its picture and its full caption (a column's short caption gets the backend's name).
  const thumb = (button) => {
    const src = button.querySelector('img')?.src || '';
    const text = (button.querySelector('.caption-label')?.textContent || '').trim();
    const column = button.closest('.backend-col')?.querySelector('h3')?.textContent?.trim();
    return {src, caption: column ? `${column} · ${text}` : text, reusable: true};
  };
  const runItems = () => [...document.querySelectorAll('.backend-col .colgal .thumbnail-item')]
    .filter((b) => b.offsetParent !== null).map(thumb);

  document.addEventListener('click', (e) => {
    const t = e.target;
    if (!(t instanceof Element) || box.contains(t)) return;
    const button = t.closest('.colgal .thumbnail-item, #history .thumbnail-item');
    if (button) {
      const gallery = button.closest('#history') ? '#history' : null;
      const list = gallery ? [...document.querySelectorAll('#history .thumbnail-item')].map(thumb) : runItems();
      const src = thumb(button).src;
      open(list, Math.max(0, list.findIndex((x) => x.src === src)));
      return;
    }
    const viewer = t.closest('#viewer .image-frame img');
    if (viewer) {
      const list = runItems();
      const i = list.findIndex((x) => x.src === viewer.src);
      const caption = document.querySelector('#viewer-caption')?.textContent?.trim() || '';
      return i >= 0 ? open(list, i) : open([{src: viewer.src, caption, reusable: true}], 0);
    }
    const grid = t.closest('#grid-image img');
    if (grid) open([{src: grid.src, caption: 'X/Y grid (its table is above it)', reusable: false}], 0);
  }, true);

  box.addEventListener('click', (e) => {
    if (e.target === box || e.target.classList.contains('lb-close')) close();
    else if (e.target === prev) show(at - 1);
    else if (e.target === next) show(at + 1);
    else if (e.target.dataset?.act) act(e.target.dataset.act);
  });
  // Window, capture: before the page's own Esc (which would cancel a run) and Gradio's handlers.
  window.addEventListener('keydown', (e) => {
    if (box.hidden) return;
    const moves = {ArrowLeft: -1, ArrowRight: 1};
    if (e.key === 'Escape') close();
    else if (e.key in moves) show(at + moves[e.key]);
    else return;
    e.preventDefault();
    e.stopImmediatePropagation();
  }, true);
  let x0 = null;
  box.addEventListener('touchstart', (e) => { x0 = e.touches[0].clientX; }, {passive: true});
  box.addEventListener('touchend', (e) => {
    if (x0 === null) return;
    const dx = e.changedTouches[0].clientX - x0;
    x0 = null;
    if (Math.abs(dx) > 40) show(at + (dx < 0 ? 1 : -1));
  });
  if (document.body) document.body.appendChild(box);
  else document.addEventListener('DOMContentLoaded', () => document.body.appendChild(box));
})();
</script>
"""
