"""The torch side: continuous kernels, the layers that sample them, ODE dynamics and the model zoo."""
