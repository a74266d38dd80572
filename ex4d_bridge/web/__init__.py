"""The web viewer: a gRPC-Web gateway to the Bridge service and a WebGL2/WebXR page (docs/web.md).

``gateway`` serves the page's static files and forwards gRPC-Web calls to a Bridge server;
``command`` is ``ex4d-bridge view``. Needs ``pip install 'ex4d-bridge[web]'`` (aiohttp).
"""
