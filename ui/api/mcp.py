"""MCP: our endpoints' images as image content, through Gradio's own MCP server."""

import json
from typing import Any

import gradio as gr


def _is_file(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("meta"), dict) and "path" in value


def _is_pair_of_lists(value: Any) -> bool:
    # /library's (gallery, records) can arrive as a list rather than a tuple on that same path.
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, list) for v in value)


def flatten_for_mcp(data: list) -> list:
    """Our outputs as Gradio's MCP server can turn them into content: files at the top level.

    Gradio makes ImageContent only from a top-level file output; a gallery (a list of
    {image, caption}) would come back as one block of text. Its queued path without a
    progress token also hands over the whole result as one tuple.
    """
    if len(data) == 1 and (isinstance(data[0], tuple) or _is_pair_of_lists(data[0])):
        data = list(data[0])
    flat: list = []
    for output in data:
        if (
            isinstance(output, list)
            and output
            and all(isinstance(i, dict) and _is_file(i.get("image")) for i in output)
        ):
            for item in output:
                flat.append(item["image"])
                if item.get("caption"):
                    flat.append(item["caption"])
        elif isinstance(output, list | dict) and not _is_file(output):
            flat.append(json.dumps(output))  # records as JSON, not a Python repr
        else:
            flat.append(output)
    return flat


class PlaygroundBlocks(gr.Blocks):
    """gr.Blocks whose MCP server (made at launch) returns every image as image content."""

    @property
    def mcp_server_obj(self):  # type: ignore[override]
        return self.__dict__.get("_mcp_server_obj")

    @mcp_server_obj.setter
    def mcp_server_obj(self, server) -> None:
        if server is not None and not getattr(server, "_flux_flattens", False):
            original = server.postprocess_output_data
            server.postprocess_output_data = lambda data, root_url: original(flatten_for_mcp(list(data)), root_url)
            server._flux_flattens = True
        self.__dict__["_mcp_server_obj"] = server
