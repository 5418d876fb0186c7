// Renders the page's mermaid diagrams with the vendored mermaid.min.js (loaded just before this
// file). A classic script, not sphinxcontrib-mermaid's ES module: module imports are refused on
// file:// pages, and the book must read the same opened from disk. Follows the theme's light/dark
// switch by rendering again from the saved source.
(function () {
  "use strict";
  let rendered = null;

  const themeName = () =>
    document.documentElement.dataset.theme === "dark" ? "dark" : "default";

  async function render() {
    const theme = themeName();
    if (theme === rendered || typeof mermaid === "undefined") return;
    rendered = theme;
    const diagrams = document.querySelectorAll("pre.mermaid");
    diagrams.forEach((el) => {
      if (el.dataset.source === undefined) {
        el.dataset.source = el.textContent;
      } else {
        el.removeAttribute("data-processed");
        el.textContent = el.dataset.source;
      }
    });
    mermaid.initialize({ startOnLoad: false, theme: theme, securityLevel: "strict" });
    try {
      await mermaid.run({ nodes: diagrams });
    } catch (error) {
      console.error("mermaid could not render a diagram:", error);
    }
  }

  window.addEventListener("load", render);
  new MutationObserver(render).observe(document.documentElement, {
    attributes: true,
    attributeFilter: ["data-theme"],
  });
})();
