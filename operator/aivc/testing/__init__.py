"""Public test tools, in the spirit of `kopf.testing`: an in-memory Kubernetes API
(`emulator`, kmock underneath) and a kubelet stand-in (`kubelet`) that runs Job pods'
commands as local processes.

For tests and the operator benchmark only. They need the `testing` extra
(`pip install aivc[testing]`, which brings kmock); `aivc operator` never imports them.
"""
