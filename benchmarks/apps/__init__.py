"""The quickstart, written for the asyncio baseline and for Henson (start-up scenario)."""
