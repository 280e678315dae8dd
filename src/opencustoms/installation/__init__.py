"""The installation as a whole: moving it to another database (:mod:`opencustoms.installation.service`)."""
