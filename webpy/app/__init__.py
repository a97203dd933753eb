"""The transport-independent application layer: routes, handlers, requests, responses."""

from .application import Application, Call, ErrorRoutes, Routes
from .errors import HTTPError
from .handler import Groups, HTTPErrorHandler, HTTPHandler
from .headers import Headers, MultiDict
from .locks import ReadWriteLock, ResourceLocks
from .request import Request
from .response import FileBody, Response, StreamBody

__all__ = [
    "Application",
    "Call",
    "ErrorRoutes",
    "FileBody",
    "Groups",
    "HTTPError",
    "HTTPErrorHandler",
    "HTTPHandler",
    "Headers",
    "MultiDict",
    "ReadWriteLock",
    "Request",
    "ResourceLocks",
    "Response",
    "Routes",
    "StreamBody",
]

# Extensions: authentication and forms.
from .auth import READ_METHODS, BasicAuthHandler, TokenAuthHandler
from .forms import Files, Form, FormHandler, UploadedFile

__all__ += [
    "READ_METHODS",
    "BasicAuthHandler",
    "Files",
    "Form",
    "FormHandler",
    "TokenAuthHandler",
    "UploadedFile",
]
