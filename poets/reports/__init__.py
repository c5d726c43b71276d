"""What people read: report.md and report.html, their parts, plots and photos, and the comparison of
runs."""
