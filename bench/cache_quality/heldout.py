#!/usr/bin/env python3
"""Writes the held-out cache quality set (JSON lines {"a","b","same","source":"heldout","kind"}).

Hand-written after the second check was built and never used to tune it:
natural paraphrases of questions a gateway sees, and hard negatives that
read almost the same but need another answer. Kept as a script so the pairs
stay reviewable in one place.

Usage: bench/cache_quality/heldout.py >> pairs.jsonl
"""

import json

SAME = [
    ("How do I undo the last git commit?", "What's the way to revert my most recent git commit?"),
    ("What is the capital of Australia?", "Which city is Australia's capital?"),
    ("How long should I boil an egg for a soft yolk?", "For a runny yolk, how many minutes do I boil an egg?"),
    ("Explain what a closure is in JavaScript.", "Can you explain closures in JavaScript?"),
    ("How do I center a div with CSS?", "What's the CSS to center a div?"),
    ("What are the symptoms of dehydration?", "What signs show that someone is dehydrated?"),
    ("How do I cancel my subscription?", "How can I cancel my subscription?"),
    ("Why is the sky blue?", "What makes the sky look blue?"),
    ("How do I create a virtual environment in Python?", "What's the command to make a Python virtual environment?"),
    ("What does HTTP status 404 mean?", "What is the meaning of a 404 HTTP status code?"),
    ("Give me a recipe for pancakes.", "Can you give me a pancake recipe?"),
    ("How do I list all running Docker containers?", "What command shows the Docker containers that are running?"),
    ("What's the difference between a list and a tuple in Python?", "How does a Python list differ from a tuple?"),
    ("How can I improve my sleep quality?", "What can I do to sleep better?"),
    ("Who wrote Pride and Prejudice?", "Who is the author of Pride and Prejudice?"),
    ("How do I reverse a string in Rust?", "What's the way to reverse a string in Rust?"),
    ("What is a good stretching routine for lower back pain?", "Which stretches help with lower back pain?"),
    ("How do I update my billing address?", "Where can I change my billing address?"),
    ("What is the boiling point of water at sea level?", "At sea level, at what temperature does water boil?"),
    ("How do I merge two dictionaries in Python?", "What's the best way to combine two Python dicts?"),
    ("Summarize the plot of Hamlet.", "Give me a summary of Hamlet's plot."),
    ("How do I make my website load faster?", "How can I speed up my website's load time?"),
    ("What causes inflation?", "Why does inflation happen?"),
    ("How do I track my order?", "Where can I see the status of my order?"),
    ("What is the speed of light?", "How fast does light travel?"),
    ("How do I write a unit test in Go?", "How are unit tests written in Go?"),
    ("What are the benefits of meditation?", "How does meditation help you?"),
    ("How do I delete a branch in git?", "What's the command to remove a git branch?"),
    ("What's a healthy breakfast idea?", "Can you suggest a healthy breakfast?"),
    ("How do I get a refund for a damaged item?", "I received a damaged item, how do I get my money back?"),
    ("Explain recursion with an example.", "Can you explain recursion and give an example?"),
    ("What is the tallest mountain in the world?", "Which mountain is the highest on Earth?"),
    ("How do I sort a list of numbers in JavaScript?", "What's the way to sort an array of numbers in JavaScript?"),
    ("What should I pack for a beach holiday?", "What do I need to bring on a beach vacation?"),
    ("How do I enable two-factor authentication?", "How can I turn on 2FA for my account?"),
    ("What is photosynthesis?", "Can you explain what photosynthesis is?"),
    ("How do I read a CSV file with pandas?", "How can I load a CSV file using pandas?"),
    ("Why do cats purr?", "What is the reason cats purr?"),
    ("How do I write a cover letter?", "What's the way to write a good cover letter?"),
    ("How does compound interest work?", "Can you explain how compound interest works?"),
]

DIFFERENT = [
    # entity
    ("What is the capital of Australia?", "What is the capital of Austria?", "entity"),
    ("Who wrote Pride and Prejudice?", "Who wrote Sense and Sensibility?", "entity"),
    ("How do I reverse a string in Rust?", "How do I reverse a string in Go?", "entity"),
    ("How do I list all running Docker containers?", "How do I list all running Kubernetes pods?", "entity"),
    ("What are the side effects of ibuprofen?", "What are the side effects of paracetamol?", "entity"),
    ("How do I install PostgreSQL on Ubuntu?", "How do I install PostgreSQL on macOS?", "entity"),
    ("What's the weather like in Seattle in March?", "What's the weather like in Seattle in August?", "entity"),
    ("What is the tallest mountain in Europe?", "What is the tallest mountain in Africa?", "entity"),
    ("How do I merge two dictionaries in Python?", "How do I merge two lists in Python?", "entity"),
    ("How do I connect to MySQL from Node.js?", "How do I connect to MongoDB from Node.js?", "entity"),
    ("Summarize the plot of Hamlet.", "Summarize the plot of Macbeth.", "entity"),
    ("How many calories are in a banana?", "How many calories are in an avocado?", "entity"),
    # numbers and amounts
    ("How long should I boil an egg for a soft yolk?", "How long should I boil 12 eggs for a soft yolk?", "number"),
    ("What is 15% of 80?", "What is 15% of 60?", "number"),
    ("Is 97 a prime number?", "Is 91 a prime number?", "number"),
    ("What happened in 1969?", "What happened in 1968?", "number"),
    ("Can I bring a 10 kg bag as carry-on?", "Can I bring a 15 kg bag as carry-on?", "number"),
    ("How much is a 3-month subscription?", "How much is a 12-month subscription?", "number"),
    ("Write a haiku about autumn.", "Write three haikus about autumn.", "number"),
    ("What's the HTTP status code 401?", "What's the HTTP status code 403?", "number"),
    # negation and polarity
    ("Is it safe to eat raw cookie dough?", "Why is it not safe to eat raw cookie dough?", "negation"),
    ("Should I use tabs for indentation in Python?", "Why shouldn't I use tabs for indentation in Python?", "negation"),
    ("Which foods are high in iron?", "Which foods are low in iron?", "polarity"),
    ("What are the advantages of remote work?", "What are the disadvantages of remote work?", "polarity"),
    ("What is the fastest sorting algorithm?", "What is the slowest sorting algorithm?", "polarity"),
    ("What are the most common password mistakes?", "What are the least common password mistakes?", "polarity"),
    ("How do I increase the font size in VS Code?", "How do I decrease the font size in VS Code?", "polarity"),
    ("How do I enable two-factor authentication?", "How do I disable two-factor authentication?", "polarity"),
    ("How do I install Node.js?", "How do I uninstall Node.js?", "polarity"),
    ("How do I encrypt a file with GPG?", "How do I decrypt a file with GPG?", "polarity"),
    ("How do I upgrade my plan?", "How do I downgrade my plan?", "polarity"),
    ("How do I add a user to a group in Linux?", "How do I remove a user from a group in Linux?", "polarity"),
    # direction and order
    ("How do I convert a string to an integer in Java?", "How do I convert an integer to a string in Java?", "direction"),
    ("How do I convert JSON to YAML?", "How do I convert YAML to JSON?", "direction"),
    ("Translate 'thank you' from Spanish to English.", "Translate 'thank you' from English to Spanish.", "direction"),
    ("How long is the flight from London to New York?", "How long is the flight from New York to London?", "direction"),
    ("How do I transfer money from savings to checking?", "How do I transfer money from checking to savings?", "direction"),
    ("How do I copy files from my server to my laptop with scp?", "How do I copy files from my laptop to my server with scp?", "direction"),
    # scope and qualifiers
    ("How do I get a refund for a damaged item?", "How do I get a refund for an item I changed my mind about?", "qualifier"),
    ("What is a good stretching routine for lower back pain?", "What is a good stretching routine for neck pain?", "qualifier"),
    ("How do I track my order?", "How do I cancel my order?", "qualifier"),
    ("What's a healthy breakfast idea?", "What's a healthy dinner idea?", "qualifier"),
    ("How do I delete a branch in git?", "How do I rename a branch in git?", "qualifier"),
    ("How do I delete a local branch in git?", "How do I delete a remote branch in git?", "qualifier"),
    ("What is the boiling point of water at sea level?", "What is the boiling point of water on Mount Everest?", "qualifier"),
    ("How do I make my website load faster?", "How do I make my website more secure?", "qualifier"),
    ("What should I pack for a beach holiday?", "What should I pack for a ski holiday?", "qualifier"),
    ("How do I write a unit test in Go?", "How do I write a benchmark in Go?", "qualifier"),
    ("What are the symptoms of dehydration in adults?", "What are the symptoms of dehydration in babies?", "qualifier"),
    ("Explain recursion with an example.", "Explain iteration with an example.", "qualifier"),
    ("What is the speed of light in a vacuum?", "What is the speed of light in water?", "qualifier"),
    ("How do I read a CSV file with pandas?", "How do I write a CSV file with pandas?", "qualifier"),
    ("How does compound interest work?", "How does simple interest work?", "qualifier"),
    ("Write a formal email declining a job offer.", "Write a formal email accepting a job offer.", "qualifier"),
    ("What did the stock market do yesterday?", "What will the stock market do tomorrow?", "time"),
    ("Who was the president of France in 2010?", "Who is the president of France now?", "time"),
    # language and format
    ("Explain closures in JavaScript.", "Explain closures in JavaScript in French.", "format"),
    ("Give me a recipe for pancakes.", "Give me a vegan recipe for pancakes.", "qualifier"),
    ("Summarize this in one sentence: the meeting is moved to Friday.", "Summarize this in one sentence: the meeting is cancelled.", "quoted"),
    ("Fix the bug: `for i in range(10) print(i)`", "Fix the bug: `while True print(i)`", "quoted"),
]

# Second held-out set: written after the first one had been used to revise
# the second check, and scored once, after the revision was final.
SAME_2 = [
    ("How do I check my Python version?", "How can I find out which version of Python I have?"),
    ("What's the best way to learn to play guitar?", "How should I go about learning guitar?"),
    ("How do I split a string by commas in Java?", "How can I split a Java string on commas?"),
    ("Where is the Eiffel Tower?", "In which city is the Eiffel Tower located?"),
    ("How do I clear my browser cache?", "How can I empty my browser's cache?"),
    ("What's a good name for a pet turtle?", "Suggest a good name for my pet turtle."),
    ("How many legs does a spider have?", "How many legs do spiders have?"),
    ("What is machine learning?", "Can you explain what machine learning is?"),
    ("How do I change my profile picture?", "How can I update my profile photo?"),
    ("Why do leaves change color in the fall?", "What makes leaves change colour in autumn?"),
    ("How do I find the length of a list in Python?", "How can I get the number of items in a Python list?"),
    ("What time zone is Tokyo in?", "Which time zone does Tokyo use?"),
    ("How do I contact customer support?", "How can I reach your customer support team?"),
    ("What are some tips for a job interview?", "Can you give me some job interview tips?"),
    ("How do I kill a process on Linux?", "How can I terminate a process in Linux?"),
    ("What's the difference between weather and climate?", "How is weather different from climate?"),
    ("How do I make cold brew coffee?", "What's the method for making cold brew coffee?"),
    ("Who painted the Mona Lisa?", "Who is the painter of the Mona Lisa?"),
    ("How do I set up SSH keys for GitHub?", "How can I configure SSH keys with GitHub?"),
    ("What does an API gateway do?", "What is the purpose of an API gateway?"),
    ("How do I take a screenshot on Windows?", "How can I capture a screenshot in Windows?"),
    ("What foods are good for gut health?", "Which foods help gut health?"),
    ("How do I pause my membership?", "Can I put my membership on hold?"),
    ("What is the plot of The Great Gatsby?", "What happens in The Great Gatsby?"),
    ("How do I join two tables in SQL?", "How can I combine two tables with a SQL join?"),
    ("What are black holes?", "Can you explain what a black hole is?"),
    ("How do I stop my dog from barking at night?", "How can I get my dog to stop barking at night?"),
    ("What's the easiest way to save money each month?", "What is the simplest way to save money every month?"),
    ("How do I format a date in JavaScript?", "What's the way to format dates in JavaScript?"),
    ("How do plants grow?", "How do plants grow and develop?"),
]

DIFFERENT_2 = [
    ("How do I check my Python version?", "How do I check my Node version?", "entity"),
    ("Where is the Eiffel Tower?", "Where is the Leaning Tower of Pisa?", "entity"),
    ("How do I split a string by commas in Java?", "How do I split a string by spaces in Java?", "qualifier"),
    ("How do I clear my browser cache?", "How do I clear my browser history?", "qualifier"),
    ("How many legs does a spider have?", "How many legs does an ant have?", "entity"),
    ("How many legs does a spider have?", "How many eyes does a spider have?", "qualifier"),
    ("What time zone is Tokyo in?", "What time zone is Sydney in?", "entity"),
    ("How do I kill a process on Linux?", "How do I start a process on Linux?", "polarity"),
    ("How do I kill a process on Linux?", "How do I kill a process on Windows?", "entity"),
    ("Who painted the Mona Lisa?", "Who stole the Mona Lisa?", "qualifier"),
    ("How do I set up SSH keys for GitHub?", "How do I set up SSH keys for GitLab?", "entity"),
    ("How do I take a screenshot on Windows?", "How do I take a screenshot on a Mac?", "entity"),
    ("What foods are good for gut health?", "What foods are bad for gut health?", "polarity"),
    ("How do I pause my membership?", "How do I end my membership?", "qualifier"),
    ("How do I join two tables in SQL?", "How do I join three tables in SQL?", "number"),
    ("How do I stop my dog from barking at night?", "How do I stop my dog from barking at visitors?", "qualifier"),
    ("How do I format a date in JavaScript?", "How do I parse a date in JavaScript?", "qualifier"),
    ("What is the maximum file size for uploads?", "What is the minimum file size for uploads?", "polarity"),
    ("Is the store open on Sundays?", "Is the store closed on Sundays?", "polarity"),
    ("Can I return an item without a receipt?", "Can I return an item with a receipt?", "negation"),
    ("What are the pros of nuclear energy?", "What are the cons of nuclear energy?", "polarity"),
    ("How do I turn on dark mode?", "How do I turn off dark mode?", "polarity"),
    ("How do I lock my screen on a Mac?", "How do I unlock my screen on a Mac?", "polarity"),
    ("How do I zip a folder on Linux?", "How do I unzip a folder on Linux?", "polarity"),
    ("How do I follow someone on Instagram?", "How do I unfollow someone on Instagram?", "polarity"),
    ("How do I import a module in Python?", "How do I export a module in Python?", "polarity"),
    ("What is the best time to visit Japan?", "What is the worst time to visit Japan?", "polarity"),
    ("Which is bigger, the Sun or Jupiter?", "Which is smaller, the Sun or Jupiter?", "polarity"),
    ("How do I convert Celsius to Kelvin?", "How do I convert Kelvin to Celsius?", "direction"),
    ("How do I migrate from MySQL to PostgreSQL?", "How do I migrate from PostgreSQL to MySQL?", "direction"),
    ("How do I send money from PayPal to my bank?", "How do I send money from my bank to PayPal?", "direction"),
    ("What is 2 to the power of 10?", "What is 10 to the power of 2?", "direction"),
    ("Write a poem about the sea in 4 lines.", "Write a poem about the sea in 8 lines.", "number"),
    ("What was the population of Canada in 1990?", "What was the population of Canada in 2020?", "number"),
    ("How much water should I drink per day?", "How much coffee should I drink per day?", "entity"),
    ("How do I cook rice in a rice cooker?", "How do I cook quinoa in a rice cooker?", "entity"),
    ("How do I cook rice in a rice cooker?", "How do I cook rice on the stove?", "qualifier"),
    ("How long does it take to fly to Rome from Paris?", "How long does it take to drive to Rome from Paris?", "qualifier"),
    ("What is the interest rate on a savings account?", "What is the interest rate on a credit card?", "qualifier"),
    ("How do I write a for loop in Bash?", "How do I write a while loop in Bash?", "qualifier"),
    ("How do I add a column in Excel?", "How do I delete a column in Excel?", "polarity"),
    ("How do I add a column in Excel?", "How do I add a row in Excel?", "qualifier"),
    ("Explain the causes of World War I.", "Explain the consequences of World War I.", "qualifier"),
    ("Explain the causes of World War I.", "Explain the causes of World War II.", "entity"),
    ("What should I eat before a run?", "What should I eat after a run?", "direction"),
    ("Recommend a book for a 5 year old.", "Recommend a book for a 15 year old.", "number"),
    ("Is it legal to drive barefoot in the UK?", "Is it legal to drive barefoot in the US?", "entity"),
    ("What are the early signs of diabetes?", "What are the late signs of diabetes?", "qualifier"),
    ("How do I make my text bold in Markdown?", "How do I make my text italic in Markdown?", "qualifier"),
    ("Why is my phone battery draining fast?", "Why is my phone battery charging slowly?", "qualifier"),
]


def main():
    for a, b in SAME:
        print(json.dumps({"a": a, "b": b, "same": True, "source": "heldout", "kind": "paraphrase"}))
    for a, b, kind in DIFFERENT:
        print(json.dumps({"a": a, "b": b, "same": False, "source": "heldout", "kind": kind}))
    for a, b in SAME_2:
        print(json.dumps({"a": a, "b": b, "same": True, "source": "heldout-2", "kind": "paraphrase"}))
    for a, b, kind in DIFFERENT_2:
        print(json.dumps({"a": a, "b": b, "same": False, "source": "heldout-2", "kind": kind}))


if __name__ == "__main__":
    main()
