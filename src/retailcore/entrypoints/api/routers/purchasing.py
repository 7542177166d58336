"""Placeholder until this module is written; the app registers its router."""

from fastapi import APIRouter

router = APIRouter()
