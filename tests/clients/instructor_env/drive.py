"""Run inside instructor's own venv (see requirements.txt), never imported by the suite:
``python drive.py MODE BASE_URL KEY MODEL`` prints the structured answer instructor parsed
as JSON. MODE: ``tools``, ``json_schema``, ``responses_tools`` (the OpenAI client) or
``anthropic_tools`` (the Anthropic client)."""

import json
import sys

import anthropic
import instructor
import openai
from pydantic import BaseModel


class Place(BaseModel):
    city: str
    people: int | None


def main() -> None:
    mode, base_url, key, model = sys.argv[1:5]
    messages = [{"role": "user", "content": "Where is the Colosseum?"}]
    if mode == "anthropic_tools":
        client = instructor.from_anthropic(
            anthropic.Anthropic(base_url=base_url, api_key=key, max_retries=0),
            mode=instructor.Mode.ANTHROPIC_TOOLS)
        place = client.messages.create(model=model, max_tokens=256, messages=messages,
                                       response_model=Place, max_retries=0)
    else:
        modes = {"tools": instructor.Mode.TOOLS, "json_schema": instructor.Mode.JSON_SCHEMA,
                 "responses_tools": instructor.Mode.RESPONSES_TOOLS}
        client = instructor.from_openai(
            openai.OpenAI(base_url=f"{base_url}/v1", api_key=key, max_retries=0),
            mode=modes[mode])
        place = client.create(model=model, messages=messages, response_model=Place,
                              max_retries=0)
    print(json.dumps(place.model_dump()))


if __name__ == "__main__":
    main()
