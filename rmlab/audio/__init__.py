"""Audio in and out: files now; microphone, speaker and synthetic sources to follow."""

from rmlab.audio.files import read_wav, write_wav

__all__ = ["read_wav", "write_wav"]
