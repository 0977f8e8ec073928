"""GGUF quantizations on the Hugging Face hub: list them, download one, check it is complete.

The work is done by one module per job, named here so that one import serves the phases and commands:
``hub_quants`` (quants from the hub's listing or from files on disk, and the local paths they may
take), ``hub_download`` (the ``hf download`` command, the download with progress and resume, the
completeness check) and ``hub_errors`` (the one adapter from huggingface_hub's errors to exit 8).
"""
from __future__ import annotations

from onboard.llamacpp.hub_download import (GGUF_MAGIC, check_files_present, download_command, download_quant, local_paths,
                                   read_split_keys)
from onboard.llamacpp.hub_errors import hub_errors, hub_failure
from onboard.llamacpp.hub_quants import (LOCAL_REPO_PREFIX, QUANT_TOKENS, Quant, QuantFile, RepoListing, default_target_dir,
                                 find_quant, group_files, hub_offline, is_local_repo, is_mmproj, list_quants,
                                 list_repo_files, local_quants, local_repo_id, model_dir_name, model_folder_quants,
                                 quant_name, safe_relpath, unsafe_relpath)

__all__ = [
    "GGUF_MAGIC", "LOCAL_REPO_PREFIX", "QUANT_TOKENS", "Quant", "QuantFile", "RepoListing", "check_files_present",
    "default_target_dir", "download_command", "download_quant", "find_quant", "group_files", "hub_errors",
    "hub_failure", "hub_offline", "is_local_repo", "is_mmproj", "list_quants", "list_repo_files", "local_paths",
    "local_quants", "local_repo_id", "model_dir_name", "model_folder_quants", "quant_name", "read_split_keys",
    "safe_relpath", "unsafe_relpath",
]
