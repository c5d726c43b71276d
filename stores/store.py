"""The one small interface every store has: the artifact layer knows no other."""

from stores.records import intact_key


class Store:
    """Where the artifacts of one --data-dir live. A subclass says how each is found, checked and kept."""

    #: Whether the artifacts live elsewhere than their local folders (a bucket), which are then a cache.
    remote = False

    def __init__(self):
        # Artifacts fetched whole by fetch_once and found intact (intact_key).
        self.intact = set()

    def folder(self, stage, artifact_id):
        """The local folder the artifact is made in and read from."""
        raise NotImplementedError

    def where(self, stage, artifact_id) -> str:
        """Where the artifact lives, as said to a person (a path, or a URL)."""
        raise NotImplementedError

    def target(self, stage, artifact_id):
        """A luigi target that exists once the artifact is complete."""
        raise NotImplementedError

    def record(self, stage, artifact_id):
        """The artifact's record, or None while it is not complete."""
        raise NotImplementedError

    def ids(self, stage):
        """The ids of the complete artifacts of `stage`, sorted."""
        raise NotImplementedError

    def fetch(self, stage, artifact_id, names=None):
        """The artifact's local folder, its files (or only `names`) checked against its record; raise
        ArtifactDamaged, naming the artifact and the file, where they differ."""
        raise NotImplementedError

    def check(self):
        """Fail, saying why in one line, unless the store can be used."""

    def publish(self, stage, artifact_id):
        """Make the artifact just written into its local folder known to every reader."""

    def damage(self, stage, artifact_id) -> list:
        """What differs between the artifact's files, where it lives, and its record: [] when nothing."""
        raise NotImplementedError

    def fetch_once(self, stage, artifact_id, names=None):
        """fetch, but an artifact fetched whole and found intact is not hashed again in this process:
        one that several tasks read (or every shard reuses) is checked once. fetch itself always checks."""
        folder = self.folder(stage, artifact_id)
        if names is None and intact_key(folder) in self.intact:
            return folder
        found = self.fetch(stage, artifact_id, names)
        if names is None and (key := intact_key(found)):  # a part is checked file by file, each time
            self.intact.add(key)
        return found
