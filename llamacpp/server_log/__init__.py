"""Reading llama-server / llama-cli logs, one job a module.

The public entry point is :mod:`llamacpp.log_analysis`; here are its parts:

* :mod:`.report`: :class:`LogReport`, what a log says;
* :mod:`.line_cleaning`: prefixes, colours and JSON lines taken off a message;
* :mod:`.state`: the reader's state machine (which load and context are current);
* :mod:`.table`: the one table of recognised lines, with its handlers in :mod:`.read_loader`
  (build, devices, load), :mod:`.read_buffers` (model, KV, output, compute buffers, graph),
  :mod:`.read_timings` (speed) and :mod:`.read_failures` (out of memory, fatal errors, notes);
* :mod:`.scanner`: feeds blocks of lines to the table's rows;
* :mod:`.streaming`: files and texts cut into blocks, :class:`LogSource`, the ``analyze_*`` entry
  points and :func:`require_text_log`;
* :mod:`.diagnosis`: the sentences a person is told.
"""
