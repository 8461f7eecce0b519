"""Public test tools, in the spirit of `kopf.testing`: an in-memory Kubernetes API
(`emulator`, kmock underneath), a kubelet stand-in (`kubelet`) that runs Job pods'
commands as local processes, and a scripted Messages API (`messages`) the real Anthropic
SDK talks to.

For tests and the benchmarks only. They need the `testing` extra
(`pip install aivc[testing]`, which brings kmock); `aivc operator` never imports them.
"""
