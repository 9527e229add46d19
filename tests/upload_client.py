"""Upload a file to a running server as a browser does, over Streamlit's own endpoints.

A browser's file uploader PUTs the file to ``/_stcore/upload_file/<session>/<file id>`` (with
the XSRF cookie and header), then reruns the page with the uploader's state naming that file.
:class:`UploadSession` does the same over the websocket (``scripts/bench_class.Session``), and
reads the server's memory from /proc for the tests that bound it.
"""

from __future__ import annotations

import asyncio
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.Common_pb2 import FileUploaderState, FileURLs, UploadedFileInfo
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState

from scripts.class_sessions import FINISHED, Session, _texts_of

PAGE = "inside_model"


def multipart(data: bytes, name: str, mime: str) -> tuple[bytes, str]:
    """A multipart/form-data body with one file part, as a browser's FormData makes it."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        f"Content-Type: {mime}\r\n\r\n"
    ).encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


class UploadSession(Session):
    """One tab of the inside page: its session id, its uploader's widget id, the XSRF cookie."""

    def __init__(self, url: str):
        super().__init__(url)
        self.session_id = ""
        self.uploader_id = ""

    def _cookie_header(self) -> dict[str, str]:
        """The cookies the first visit collected (the balancer's sticky one, the XSRF one), as a browser sends them."""
        return {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}

    def _xsrf(self) -> str:
        return self.cookies.get("_streamlit_xsrf", "")

    async def run(self, widgets=None, timeout: float = 120) -> list[str]:
        """Run the inside page (with these widget states); the texts it showed."""
        msg = BackMsg()
        msg.rerun_script.page_name = PAGE
        if widgets:
            msg.rerun_script.widget_states.widgets.extend(widgets)
        await self.ws.send(msg.SerializeToString())
        texts: list[str] = []
        async with asyncio.timeout(timeout):
            while True:
                fwd = ForwardMsg()
                fwd.ParseFromString(await self.ws.recv())
                kind = fwd.WhichOneof("type")
                if kind == "new_session":
                    self.session_id = fwd.new_session.initialize.session_id
                elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                    element = fwd.delta.new_element
                    if element.WhichOneof("type") == "file_uploader":
                        self.uploader_id = element.file_uploader.id
                    what, text, _ = _texts_of(element)
                    if what == "exception":
                        raise AssertionError(f"the page raised: {text}")
                    if text:
                        texts.append(text)
                elif kind == "script_finished" and fwd.script_finished in FINISHED:
                    return texts

    def put(self, data: bytes, name: str, mime: str, file_id: str | None = None, timeout: float = 120) -> int:
        """PUT the file to the upload endpoint; the HTTP status (204 when the server took it)."""
        body, content_type = multipart(data, name, mime)
        request = urllib.request.Request(
            f"{self.http_url}/_stcore/upload_file/{self.session_id}/{file_id or uuid.uuid4().hex}",
            data=body,
            method="PUT",
            headers={"Content-Type": content_type, "X-Xsrftoken": self._xsrf(), **self._cookie_header()},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code
        except (ConnectionError, urllib.error.URLError):  # a server may close the connection on a refused body
            return 0

    async def upload(self, data: bytes, name: str, mime: str, timeout: float = 120) -> list[str]:
        """Upload as the browser does, then rerun the page with the file in the uploader; the page's texts."""
        file_id = uuid.uuid4().hex
        status = await asyncio.to_thread(self.put, data, name, mime, file_id, timeout)
        assert status == 204, f"the upload endpoint answered {status}"
        urls = FileURLs(file_id=file_id, upload_url=f"/_stcore/upload_file/{self.session_id}/{file_id}")
        info = UploadedFileInfo(file_id=file_id, name=name, size=len(data), file_urls=urls)
        state = WidgetState(id=self.uploader_id, file_uploader_state_value=FileUploaderState(uploaded_file_info=[info]))
        return await self.run([state], timeout)


async def open_inside_page(url: str, timeout: float = 120) -> UploadSession:
    session = UploadSession(url)
    await session.connect(timeout)
    await session.run(timeout=timeout)
    assert session.session_id and session.uploader_id, "the inside page showed no file uploader"
    return session


# ---------------------------------------------------------------- the server's memory, from /proc


def proc_status(pid: int, key: str) -> int:
    """A /proc/<pid>/status figure in bytes (VmRSS, VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(key)


def reset_high_water_mark(pid: int) -> int:
    """Start VmHWM again from the present RSS (Linux's clear_refs "5"); returns that RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return proc_status(pid, "VmRSS")


def added_peak(pid: int, baseline: int) -> int:
    """How far the server's resident memory rose above ``baseline`` at its highest since the reset."""
    return proc_status(pid, "VmHWM") - baseline


def settle(seconds: float = 0.5) -> None:
    time.sleep(seconds)  # lets the server finish freeing a rerun's objects before the next reset
