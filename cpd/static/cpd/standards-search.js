// Progressive enhancement for the standards picker on the CPD entry form.
//
// Without this script every standard is on the page, grouped by domain in
// <details> elements. With it, a search box appears that hides the standards
// (and domains) that do not match what is typed, opens the domains that do,
// and says how many match. Clearing the box puts the groups back as they were.

function initStandardsSearch(picker) {
  const search = picker.querySelector("[data-standards-search]");
  const input = search?.querySelector("input");
  const status = search?.querySelector("[data-standards-search-status]");
  const groups = [...picker.querySelectorAll("[data-standards-domain]")];
  if (!input || !status || groups.length === 0) return;

  const words = () => input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
  const openBefore = new Map(groups.map((group) => [group, group.open]));

  function filter() {
    const wanted = words();
    let matching = 0;
    for (const group of groups) {
      const domain = group.querySelector("summary").textContent.toLowerCase();
      let inGroup = 0;
      for (const item of group.querySelectorAll("[data-standards-item]")) {
        const text = `${domain} ${item.textContent.toLowerCase()}`;
        const match = wanted.every((word) => text.includes(word));
        item.hidden = !match;
        if (match) inGroup += 1;
      }
      group.hidden = inGroup === 0;
      if (wanted.length) {
        group.open = inGroup > 0;
      } else {
        group.open = openBefore.get(group) || group.querySelector("input:checked") !== null;
      }
      matching += inGroup;
    }
    if (!wanted.length) {
      status.textContent = "";
    } else if (matching === 0) {
      status.textContent = "No standards match. Try another word.";
    } else {
      status.textContent = `${matching} standard${matching === 1 ? "" : "s"} match.`;
    }
  }

  // Remember which domains the member opened, so clearing the search restores them.
  for (const group of groups) {
    group.addEventListener("toggle", () => {
      if (!words().length) openBefore.set(group, group.open);
    });
  }
  input.addEventListener("input", filter);
  // Enter in the search box would submit the whole entry form.
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") event.preventDefault();
  });
  search.hidden = false;
}

for (const picker of document.querySelectorAll("[data-standards-picker]")) {
  initStandardsSearch(picker);
}
