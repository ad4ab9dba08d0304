"""The HTTP API (extra ``[api]``): ``router(session_dependency)`` gives an ``APIRouter``.

```python
from agentical.api import router

app.include_router(router(get_session), prefix="/agentical")
```
"""

from agentical.api.routes import router

__all__ = ["router"]
