// Keeps the CSV check's progress up to date while it runs, then reloads the
// page to show the download. Without JavaScript, the page's own link does it.
const box = document.getElementById("job-progress");
if (box) {
  const text = document.getElementById("job-progress-text");
  const poll = async () => {
    try {
      const response = await fetch(box.dataset.progressUrl, { headers: { Accept: "application/json" } });
      if (response.ok) {
        const job = await response.json();
        if (job.finished) {
          window.location.reload();
          return;
        }
        text.textContent = `${job.status_words}: ${job.processed_rows} of ${job.total_rows} rows checked (${job.percent}%).`;
      }
    } catch {
      // A dropped connection: try again on the next tick.
    }
    window.setTimeout(poll, 2000);
  };
  window.setTimeout(poll, 1000);
}
