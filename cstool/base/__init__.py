"""The bottom layer: errors, stderr output, the download policy, devices, processes, option fields and the
command line's small value languages. Nothing here imports another cstool package."""
