"""The pages served on this machine: the camera app and the review page, their server, HTTPS for a
phone."""
