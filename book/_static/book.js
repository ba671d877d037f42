// The book's own script (added to every page by book/_ext/book_html.py).
//
// A display formula wider than the text column is set in a smaller font until it
// fits (down to 70 %); MathJax 3 cannot break lines. `window.bookLayout` resolves when
// this is done, so tools/browser_check.py measures the page as a reader sees it.
(function () {
  "use strict";
  const SMALLEST = 0.7;

  function tooWide(container) {
    const box = container.parentElement.getBoundingClientRect();
    let left = Infinity, right = -Infinity;
    for (const part of container.querySelectorAll("mjx-math, mjx-labels, mjx-mtd, mjx-mrow")) {
      const r = part.getBoundingClientRect();
      if (r.width === 0) continue;
      left = Math.min(left, r.left);
      right = Math.max(right, r.right);
    }
    return container.scrollWidth > container.clientWidth + 1 || right - left > box.width + 1;
  }

  function fit(container) {
    let scale = 1.0;
    while (tooWide(container) && scale > SMALLEST + 1e-9) {
      scale = Math.max(SMALLEST, scale - 0.05);
      container.style.fontSize = Math.round(scale * 100) + "%";
    }
  }

  function fitAll() {
    for (const container of document.querySelectorAll('mjx-container[display="true"]')) {
      container.style.fontSize = "";
      fit(container);
    }
  }

  window.bookLayout = new Promise(function (resolve) {
    let waited = 0;
    function whenTypeset() {
      const mj = window.MathJax;
      if (!document.querySelector(".math")) return resolve();
      if (mj && mj.startup && mj.startup.promise) {
        mj.startup.promise.then(function () { fitAll(); resolve(); });
      } else if (waited < 10000) {
        waited += 50;
        setTimeout(whenTypeset, 50);  // MathJax is loaded with `defer`; wait for it
      } else {
        resolve();  // no MathJax: the browser check reports the formulas as not typeset
      }
    }
    if (document.readyState === "loading") {
      document.addEventListener("DOMContentLoaded", whenTypeset);
    } else {
      whenTypeset();
    }
  });

  let resizing = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizing);
    resizing = setTimeout(fitAll, 150);
  });
})();
